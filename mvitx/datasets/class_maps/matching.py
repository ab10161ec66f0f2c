"""Candidate class maps by lexical matching of class names, written for
review (``tools/data/make_class_map.py``).

Names are normalised (lower case; ``-``, ``_``, ``'``, brackets and ``/``
become spaces) and split into tokens; words such as ``or``, ``with``,
``not`` are dropped. Two tokens match when they are equal (method
``token``), equal after removing a plural or ``-ing`` ending (``skiing`` ~
``ski``, ``drums`` ~ ``drum``, ``bobsledding`` ~ ``bobsled``; method
``inflection``) or listed together in :data:`SYNONYMS` (method
``synonym``). A destination class is a candidate for a source class when
the source's head word (its last token, ``guitar`` of ``acoustic
guitar``) matches one of its tokens; the candidate's confidence is the Dice
overlap ``2 |matched| / (|src tokens| + |dst tokens|)`` (1.0 with method
``exact`` for equal normalised names) and its method the weakest kind of
match it needed. WordNet is not used (it would need nltk and its corpus).
"""
import csv
import re
from typing import FrozenSet, List, NamedTuple, Sequence, Tuple

from . import COLUMNS

#: Tokens that carry no meaning for matching.
STOPWORDS = frozenset(('a', 'an', 'and', 'at', 'in', 'into', 'not', 'of', 'on',
                       'or', 'the', 'through', 'to', 'with'))
#: Small synonym groups: spellings, short forms and near-equivalent words
#: of ImageNet objects and Kinetics actions.
SYNONYMS: Tuple[FrozenSet[str], ...] = tuple(
    frozenset(group) for group in (
        ('sax', 'saxophone'),
        ('bike', 'bicycle', 'biking', 'cycling'),
        ('barbeque', 'barbecue', 'barbequing', 'grill'),
        ('hotdog', 'hot dog'),
        ('burger', 'cheeseburger', 'hamburger'),
        ('doughnut', 'donut'),
        ('ping pong', 'table tennis'),
        ('motorcycle', 'motorcycling', 'motorbike'),
        ('kayak', 'canoe'),
        ('scuba', 'scuba diver', 'scuba diving'),
        ('cornet', 'trumpet'),
        ('dogsled', 'dog sled', 'sled dog'),
    ))
#: The methods from strongest to weakest.
METHODS = ('exact', 'token', 'inflection', 'synonym')


class Candidate(NamedTuple):
    """One proposed pair of a source and a destination class."""
    src_id: int
    src_name: str
    dst_id: int
    dst_name: str
    confidence: float
    method: str


def normalise(name: str) -> str:
    """Lower case, separators as single spaces."""
    name = re.sub(r"[-_'()/,.&]", ' ', name.lower())
    return ' '.join(name.split())


def word_forms(token: str) -> FrozenSet[str]:
    """A token and its forms without a plural or ``-ing`` ending."""
    forms = {token}
    if token.endswith('ies') and len(token) > 4:
        forms.add(token[:-3] + 'y')
    if re.search(r'(s|x|z|ch|sh)es$', token):
        forms.add(token[:-2])
    if token.endswith('s') and not token.endswith(('ss', 'us', 'is')):
        forms.add(token[:-1])
    if token.endswith('ing') and len(token) > 5:
        stem = token[:-3]
        forms.update((stem, stem + 'e'))
        if len(stem) > 2 and stem[-1] == stem[-2]:
            forms.add(stem[:-1])  # bobsledding -> bobsled
    return frozenset(forms)


def _synonyms(token: str) -> FrozenSet[str]:
    found = set()
    for group in SYNONYMS:
        if token in group:
            found |= group
    return frozenset(found)


def match_tokens(a: str, b: str) -> str:
    """How two tokens match: ``'token'``, ``'inflection'``, ``'synonym'``
    or ``''`` (no match)."""
    if a == b:
        return 'token'
    forms_a, forms_b = word_forms(a), word_forms(b)
    if forms_a & forms_b:
        return 'inflection'
    if any(_synonyms(f) & forms_b for f in forms_a):
        return 'synonym'
    return ''


def tokens(name: str) -> List[str]:
    """The tokens of a name, in order: normalised, stopwords dropped,
    multi-word synonyms (``table tennis``) kept as one token."""
    text = normalise(name)
    for group in SYNONYMS:
        for phrase in sorted(group, key=len, reverse=True):
            if ' ' in phrase and phrase in text:
                text = text.replace(phrase, phrase.replace(' ', '_'))
    return [t.replace('_', ' ') for t in text.split() if t not in STOPWORDS]


def score_pair(src: str, dst: str) -> Tuple[float, str]:
    """Confidence and method of one pair of names (``(0., '')`` when the
    source's head word matches no destination token)."""
    if normalise(src) == normalise(dst):
        return 1., 'exact'
    src_tokens, dst_tokens = (tokens(src), tokens(dst))
    if not src_tokens or not dst_tokens:
        return 0., ''
    if not any(match_tokens(src_tokens[-1], d) for d in dst_tokens):
        return 0., ''
    matched, weakest = 0, 'token'
    for s in src_tokens:
        kinds = [match_tokens(s, d) for d in dst_tokens]
        kinds = [k for k in kinds if k]
        if kinds:
            matched += 1
            best = min(kinds, key=METHODS.index)
            weakest = max(weakest, best, key=METHODS.index)
    confidence = 2 * matched / (len(src_tokens) + len(dst_tokens))
    return round(min(confidence, 1.), 3), weakest


def propose(src_names: Sequence[str],
            dst_names: Sequence[str],
            min_confidence: float = 0.4,
            top_k: int = 3) -> List[Candidate]:
    """Candidate pairs for review, by source id, best first.

    Args:
        src_names (Sequence[str]): Source (image) class names in id order.
        dst_names (Sequence[str]): Destination (video) class names in id
            order.
        min_confidence (float): Lowest confidence kept. Defaults to 0.4.
        top_k (int): Most candidates per source class. Defaults to 3.

    Returns:
        list[Candidate]: The pairs, grouped by source id.
    """
    found = []
    for src_id, src in enumerate(src_names):
        scored = []
        for dst_id, dst in enumerate(dst_names):
            confidence, method = score_pair(src, dst)
            if method and confidence >= min_confidence:
                scored.append(
                    Candidate(src_id, src, dst_id, dst, confidence, method))
        scored.sort(
            key=lambda c: (-c.confidence, METHODS.index(c.method), c.dst_id))
        found += scored[:top_k]
    return found


def write_candidates(path: str, candidates: Sequence[Candidate],
                     comment: Sequence[str]) -> None:
    """Writes candidates as a class-map file with ``reviewed=no``.

    Args:
        path (str): Output CSV.
        candidates (Sequence[Candidate]): From :func:`propose`.
        comment (Sequence[str]): Header comment lines (without ``#``).
    """
    with open(path, 'w', encoding='utf-8', newline='') as f:
        for line in comment:
            f.write(f'# {line}\n')
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(COLUMNS)
        for c in candidates:
            writer.writerow(list(c) + ['no'])
