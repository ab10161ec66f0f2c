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


def test_query_strides_option_reports_its_cost(capsys):
    """--cfg-options sets the backbone's per-stage query strides: no
    pooling into the last stage quadruples its tokens, so it costs more,
    and the output stride halves."""
    config = f'{ROOT}/configs/topdown/mvit_xs_demo_topdown.py'
    reports = []
    for options in ([], [
            '--cfg-options', 'model.backbone.stage_q_strides=[(1,1,1),(1,1,1)]'
    ]):
        get_flops.main([config, '--shape', '4', '32', '32', *options])
        lines = capsys.readouterr().out.splitlines()
        reports.append(([float(v) for v in lines[2].split()[-2:]], lines[-1]))
    (params, flops), stride = reports[0]
    (fine_params, fine_flops), fine_stride = reports[1]
    assert stride == 'output stride (t, h, w): (2, 8, 8)'
    assert fine_stride == 'output stride (t, h, w): (2, 4, 4)'
    assert fine_flops > flops
    assert fine_params >= params
