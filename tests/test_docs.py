"""The README and the guides under docs/: every relative link and ``#anchor`` resolves, every
guide can be reached from the README, and the README stays a short front door."""
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from tests.helpers import REPO

README_MAX_BYTES = 15 * 1024
FENCE = re.compile(r'^\s*(```|~~~)')
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')
LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
INLINE_CODE = re.compile(r'`[^`]*`')


def markdown_files() -> List[Path]:
    return [REPO / 'README.md', REPO / 'configs' / 'README.md'] + sorted(
        (REPO / 'docs').glob('*.md'))


def prose_lines(text: str) -> List[str]:
    """The lines outside fenced code blocks (a ``# error:`` line in a bash block is no
    heading, and a link-like text there is no link)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text (markup and link targets dropped),
    lower-cased, punctuation other than ``-`` and ``_`` removed, spaces turned into ``-``."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', heading)  # [text](target) -> text
    text = re.sub(r'<[^>]+>', '', text).replace('`', '').replace('*', '')
    return re.sub(r'[^\w\- ]', '', text.strip().lower()).replace(' ', '-')


def anchors(path: Path) -> Set[str]:
    """Every heading's anchor in ``path``; a repeated heading gets ``-1``, ``-2``, ... as on
    GitHub."""
    seen: Dict[str, int] = {}
    found = set()
    for line in prose_lines(path.read_text()):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f'{base}-{count}')
    return found


def relative_links(path: Path) -> List[Tuple[int, str]]:
    """(line number, target) of each link and image in ``path`` that points into the
    repository (not ``http(s)://`` or ``mailto:``)."""
    links = []
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        for target in LINK.findall(INLINE_CODE.sub('', line)):
            if not re.match(r'^[a-z][a-z0-9+.-]*:', target):
                links.append((number, target))
    return links


def broken_links(path: Path) -> List[str]:
    """'file:line: target (why)' for each relative link of ``path`` that does not resolve."""
    broken = []
    for number, target in relative_links(path):
        file_part, _, anchor = target.partition('#')
        linked = (path.parent / file_part).resolve() if file_part else path
        where = f'{path.relative_to(REPO)}:{number}: {target}'
        if not linked.exists():
            broken.append(f'{where} (no such file)')
        elif anchor and linked.suffix == '.md' and anchor not in anchors(linked):
            broken.append(f'{where} (no heading with that anchor in {linked.name})')
    return broken


def test_slug_follows_githubs_rule():
    assert slug('Train, test, demo') == 'train-test-demo'
    assert slug('1. The papers\' numbers at 224x224') == '1-the-papers-numbers-at-224x224'
    assert slug('`tools/study.py`') == 'toolsstudypy'
    assert slug('6. GPU: NVIDIA H200') == '6-gpu-nvidia-h200'
    assert slug('Quickstart: what `make quickstart` does') == 'quickstart-what-make-quickstart-does'


def test_headings_in_code_blocks_are_no_anchors(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('# Title\n```bash\n# error: not a heading\n```\n## Part\n## Part\n')
    assert anchors(page) == {'title', 'part', 'part-1'}


def test_a_broken_link_or_anchor_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr('tests.test_docs.REPO', tmp_path)
    (tmp_path / 'guide.md').write_text('# Guide\n## Some part\n')
    page = tmp_path / 'page.md'
    page.write_text('[ok](guide.md#some-part) [ok](#top) [web](https://example.com/x.md#y)\n'
                    '# Top\n[gone](missing.md) [bad anchor](guide.md#other-part)\n'
                    '```\n[in code](missing.md)\n```\n')
    assert broken_links(page) == [
        'page.md:3: missing.md (no such file)',
        'page.md:3: guide.md#other-part (no heading with that anchor in guide.md)']


@pytest.mark.parametrize('path', markdown_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(path):
    assert relative_links(path) or path.name != 'README.md'  # the READMEs do link
    assert broken_links(path) == []


def test_every_guide_is_reached_from_the_readme():
    """Following relative links from README.md reaches every markdown file under docs/."""
    reached, todo = set(), [REPO / 'README.md']
    while todo:
        path = todo.pop()
        if path in reached:
            continue
        reached.add(path)
        for _, target in relative_links(path):
            linked = (path.parent / target.partition('#')[0]).resolve()
            if linked.suffix == '.md' and linked.is_file():
                todo.append(linked)
    assert sorted(p.name for p in (REPO / 'docs').glob('*.md') if p not in reached) == []


def test_the_readme_is_a_short_front_door():
    """At most 15 KB, opening with the two commands and a table of contents."""
    readme = (REPO / 'README.md').read_text()
    assert len(readme.encode()) <= README_MAX_BYTES
    assert 'make quickstart' in readme.split('## ')[0] and 'make test' in readme.split('## ')[0]
    assert re.search(r'^## Contents$', readme, re.MULTILINE)
