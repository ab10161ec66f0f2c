"""Lexical matching of class names into candidate class maps."""
import pytest

from mvitx.datasets.class_maps.matching import (match_tokens, propose,
                                                score_pair, tokens)


def test_tokens_normalise_and_drop_stopwords():
    assert tokens("Potter's Wheel") == ['potter', 's', 'wheel']
    assert tokens('skiing (not slalom or crosscountry)') == [
        'skiing', 'slalom', 'crosscountry'
    ]
    assert tokens('table tennis bat') == ['table tennis', 'bat']


@pytest.mark.parametrize('a, b, kind', [
    ('guitar', 'guitar', 'token'),
    ('drum', 'drums', 'inflection'),
    ('bobsled', 'bobsledding', 'inflection'),
    ('ski', 'skiing', 'inflection'),
    ('berry', 'berries', 'inflection'),
    ('sax', 'saxophone', 'synonym'),
    ('guitar', 'violin', ''),
])
def test_match_tokens(a, b, kind):
    assert match_tokens(a, b) == kind


def test_score_needs_the_head_word():
    assert score_pair('bobsled', 'Bobsled') == (1., 'exact')
    assert score_pair('acoustic guitar', 'playing guitar') == (0.5, 'token')
    # 'hair' matches, but the head word 'slide' does not
    assert score_pair('hair slide', 'brushing hair') == (0., '')


def test_propose_ranks_and_keeps_top_k():
    src = ['acoustic guitar', 'cello', 'tench', 'sax']
    dst = [
        'playing cello', 'playing guitar', 'strumming guitar', 'surfing',
        'playing saxophone'
    ]
    found = propose(src, dst, min_confidence=0.4, top_k=1)
    assert [(c.src_name, c.dst_name, c.method) for c in found] == [
        ('acoustic guitar', 'playing guitar', 'token'),
        ('cello', 'playing cello', 'token'),
        ('sax', 'playing saxophone', 'synonym'),
    ]
    both = propose(src[:1], dst, top_k=3)
    assert [c.dst_id for c in both] == [1, 2]
    assert propose(src[:1], dst, min_confidence=0.6) == []
