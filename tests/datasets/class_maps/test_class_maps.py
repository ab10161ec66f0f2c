"""Reading class maps, and the maps shipped with mvitx."""
import pytest
import torchvision

from mvitx.datasets.class_maps import (COLUMNS, SHIPPED_DIR, read_class_map,
                                       shipped_maps)
from mvitx.datasets.demo.kinetics import OBJECT_CLASSES, VIDEO_CLASSES
from mvitx.datasets.demo.render import SHAPES

HEADER = ','.join(COLUMNS) + '\n'


def _write(tmp_path, rows, header=HEADER):
    path = tmp_path / 'map.csv'
    path.write_text('# a comment\n' + header + ''.join(rows))
    return str(path)


def test_many_to_one_map_and_unmapped_classes(tmp_path):
    path = _write(tmp_path, [
        '0,acoustic guitar,5,playing guitar,0.5,token,yes\n',
        '\n',
        '3,electric guitar,5,playing guitar,0.5,token,yes\n',
        '4,"cat, tiger",1,petting cat,0.5,token,yes\n',
    ])
    mapping = read_class_map(path)
    assert mapping.src_to_dst == {0: 5, 3: 5, 4: 1}
    assert mapping.src_names[4] == 'cat, tiger'
    assert mapping.lines == {0: 3, 3: 5, 4: 6}
    # classes 1 and 2 stay unmapped
    assert 1 not in mapping.src_to_dst and 2 not in mapping.src_to_dst
    mapping.check(num_src=5, num_dst=6)
    with pytest.raises(ValueError, match=r'map.csv:6: src_id 4 outside'):
        mapping.check(num_src=4)
    with pytest.raises(ValueError, match=r'map.csv:3: dst_id 5 outside'):
        mapping.check(num_dst=5)
    with pytest.raises(
            ValueError,
            match=r"map.csv:6: src_name 'cat, tiger', but class 4"):
        mapping.check(src_classes=[
            'acoustic guitar', 'b', 'c', 'electric guitar', 'tiger cat'
        ])


@pytest.mark.parametrize('rows, header, message', [
    (['0,a,1,b,0.5,token,no\n'], HEADER, r':3: reviewed=.no.; review'),
    (['0,a,1,b,0.5,token,yes\n', '0,a,2,c,0.5,token,yes\n'
      ], HEADER, r':4: src_id 0 mapped again \(first on line 3\)'),
    (['0,a,1,b,0.5,token\n'], HEADER, r':3: 6 fields; expected 7'),
    (['x,a,1,b,0.5,token,yes\n'], HEADER, r":3: src_id 'x'; expected an"),
    (['0,a,-1,b,0.5,token,yes\n'], HEADER, r":3: dst_id '-1'"),
    (['0,a,1,b,0.5,token,yes\n', '2,c,1,z,0.5,token,yes\n'
      ], HEADER, r":4: dst_id 1 named 'z', elsewhere 'b'"),
    (['0,a,1,b,0.5,token,yes\n'], 'src,dst\n', r':2: header'),
    ([], HEADER, r'map.csv: no pairs'),
])
def test_bad_file_names_file_and_line(tmp_path, rows, header, message):
    with pytest.raises(ValueError, match=message):
        read_class_map(_write(tmp_path, rows, header))


def test_missing_map_lists_the_shipped_ones(tmp_path):
    with pytest.raises(FileNotFoundError, match='in1k_k400.csv'):
        read_class_map(str(tmp_path / 'nope.csv'))


def test_shipped_maps_fit_their_class_lists():
    assert shipped_maps() == ['demo.csv', 'demo_objects.csv', 'in1k_k400.csv']
    imagenet = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta[
        'categories']
    kinetics = torchvision.models.video.MViT_V2_S_Weights.KINETICS400_V1.meta[
        'categories']
    in1k_k400 = read_class_map('in1k_k400.csv')
    assert in1k_k400.path.startswith(SHIPPED_DIR)
    in1k_k400.check(src_classes=imagenet, dst_classes=kinetics)
    assert in1k_k400.src_to_dst[402] == kinetics.index('playing guitar')
    assert 312 not in in1k_k400.src_to_dst  # cricket, the insect
    demo = read_class_map('demo.csv')
    demo.check(
        src_classes=SHAPES, dst_classes=[name for name, *_ in VIDEO_CLASSES])
    assert {
        SHAPES[s]: VIDEO_CLASSES[d][0]
        for s, d in demo.src_to_dst.items()
    } == {
        shape: f'{shape} slides'
        for shape in ('circle', 'square', 'star', 'triangle')
    }
    objects = read_class_map('demo_objects.csv')
    objects.check(
        src_classes=SHAPES, dst_classes=[name for name, *_ in OBJECT_CLASSES])
    assert objects.src_to_dst == {i: i for i in range(len(SHAPES))}
