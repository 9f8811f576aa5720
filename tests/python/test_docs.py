"""The documents a newcomer reads first: README.md stays a page that gives the two
commands CI runs, names every subcommand, and every link in it and in docs/ leads
somewhere."""

import re
import shlex

from conftest import REPO, readpath

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def _readme():
    return (REPO / "README.md").read_text()


def _commands(text):
    """The shell commands of a document's ```sh blocks, comments and continuations removed."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                commands.append(line)
    return commands


def test_the_readme_is_a_page_that_gives_the_two_commands():
    words = len(re.sub(r"```.*?```|\|[- |]+\|", " ", _readme(), flags=re.S).split())
    assert words <= 850, f"README.md has {words} words; move detail into docs/"
    assert _commands(_readme())[:2] == ["scripts/readpath run", "scripts/readpath test"]


def test_ci_runs_exactly_the_test_command_the_readme_gives():
    ci = [shlex.split(line) for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    readme_test = shlex.split(next(c for c in _commands(_readme()) if c.endswith(" test")))
    assert ci[-1] == readme_test


def test_the_readme_names_every_subcommand():
    proc = readpath("--help")
    listed = re.search(r"COMMAND\n(.*)", proc.stdout + proc.stderr, re.S).group(1)
    names = re.findall(r"^    ([a-z][a-z-]+)", listed, re.M)
    assert len(names) >= 8, listed
    table = "\n".join(line for line in _readme().splitlines() if line.startswith("| `"))
    missing = [name for name in names if not re.search(rf"`{re.escape(name)}[` ]", table)]
    assert not missing, f"README's subcommand table lacks {missing}"


def test_every_relative_link_leads_to_a_file():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if re.match(r"[a-z]+://", target):
                continue
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(REPO)}: {target}")
    assert not broken, broken
