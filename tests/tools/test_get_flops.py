from tests.helpers import ROOT, load_tool

get_flops = load_tool('tools/analysis/get_flops.py')


def test_topdown_config_reports_backbone_and_neck_overhead(capsys):
    config = f'{ROOT}/configs/topdown/mvit_xs_demo_topdown.py'
    get_flops.main([config, '--shape', '4', '32', '32'])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f'{config}, input 1x3x4x32x32'
    assert lines[2].startswith('backbone ')
    assert lines[3].startswith('backbone + TopDownModulation ')
    params, flops = [float(v) for v in lines[2].split()[-2:]]
    neck_params, neck_flops = [float(v) for v in lines[3].split()[-2:]]
    assert neck_params > params > 0
    assert neck_flops > flops > 0  # the neck really runs in the count
    assert lines[4].startswith('overhead: params +')
