"""Architecture diagrams: torchview (default) or hiddenlayer (with a scoped torch-2.11 shim).

Both draw top to bottom so a figure stays legible at page width: torchview shows modules collapsed
to ``depth`` with their input/output shapes; hiddenlayer shows the traced ONNX graph (with
constants pruned), which is closer to the operations but busier.

hiddenlayer 0.3 predates torch 2.x: ``torch.onnx._optimize_trace`` is gone, ``torch._C.Node``
is no longer subscriptable, and output shapes now print with ``strides=``. :func:`hiddenlayer_shim`
swaps in a compatible ``hiddenlayer.pytorch_builder.import_graph`` for the duration of one call
and restores the original afterwards; nothing of torch is patched.
"""
from __future__ import annotations

import contextlib
import re
import warnings
from pathlib import Path

import torch
from torch import nn

_SHAPE = re.compile(r"Float\(([\d\s,]+?)(?:,\s*strides=|\))")


def _node_attrs(node) -> dict:
    return {k: getattr(node, node.kindOf(k))(k) for k in node.attributeNames()}


def _shape(node):
    m = _SHAPE.search(str(next(node.outputs())))
    return tuple(int(s) for s in m.group(1).split(",") if s.strip()) if m else None


def _import_graph_torch2(hl_graph, model, args, input_names=None, verbose=False):
    from hiddenlayer.graph import Node
    from hiddenlayer.pytorch_builder import pytorch_id
    from torch.onnx._internal.torchscript_exporter.utils import _optimize_graph

    trace, _ = torch.jit._get_trace_graph(model, args)
    graph = _optimize_graph(trace, torch.onnx.OperatorExportTypes.ONNX, params_dict={})
    nodes = list(graph.nodes())
    for node in nodes:
        outputs = {o.unique() for o in node.outputs()}
        hl_graph.add_node(Node(uid=pytorch_id(node), name=None, op=node.kind(), output_shape=_shape(node),
                               params=_node_attrs(node)))
        for target in nodes:
            if outputs & {i.unique() for i in target.inputs()}:
                hl_graph.add_edge_by_id(pytorch_id(node), pytorch_id(target), _shape(node))
    return hl_graph


@contextlib.contextmanager
def hiddenlayer_shim():
    """Within the block, hiddenlayer builds graphs with torch 2.x; afterwards it is as it was."""
    import hiddenlayer.pytorch_builder as pb

    original = pb.import_graph
    pb.import_graph = _import_graph_torch2
    try:
        yield
    finally:
        pb.import_graph = original


def _draw_hiddenlayer(model: nn.Module, example: torch.Tensor, path: Path, depth: int) -> None:
    import hiddenlayer as hl

    transforms = [hl.transforms.Prune("Constant"), *hl.transforms.SIMPLICITY_TRANSFORMS]
    with hiddenlayer_shim(), torch.no_grad():
        g = hl.build_graph(model, example, transforms=transforms)
    g.theme = hl.graph.THEMES["blue"].copy()
    dot = g.build_dot()
    dot.attr("graph", rankdir="TB")
    dot.render(str(path.with_suffix("")), format="png", cleanup=True)


def _draw_torchview(model: nn.Module, example: torch.Tensor, path: Path, depth: int) -> None:
    from torchview import draw_graph

    g = draw_graph(model, input_data=example, expand_nested=True, depth=depth, graph_dir="TB", save_graph=False)
    g.visual_graph.render(str(path.with_suffix("")), format="png", cleanup=True)


def draw(model: nn.Module, example: torch.Tensor, path: str | Path, prefer: str = "torchview", depth: int = 2) -> str:
    """Render ``model`` to ``path`` (.png), top to bottom; returns which tool drew it.

    ``prefer='torchview'`` (modules collapsed to ``depth``) or ``'hiddenlayer'`` (through the shim;
    if it cannot trace the model, torchview draws it and the reason is printed). The encoders'
    input check (``isfinite``) is switched off while drawing so it does not clutter the graph.
    """
    if prefer not in ("torchview", "hiddenlayer"):
        raise ValueError(f"prefer must be 'torchview' or 'hiddenlayer', got {prefer!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    checks = [(m, m.check_finite) for m in model.modules() if hasattr(m, "check_finite")]
    model.eval()
    try:
        for m, _ in checks:
            m.check_finite = False
        with warnings.catch_warnings():  # tracing/export chatter, scoped to this call
            warnings.simplefilter("ignore")
            if prefer == "hiddenlayer":
                try:
                    _draw_hiddenlayer(model, example, path, depth)
                    return "hiddenlayer"
                except Exception as err:  # noqa: BLE001 - any tracing failure falls back, and is reported
                    print(f"hiddenlayer cannot draw {type(model).__name__} "
                          f"({type(err).__name__}: {str(err).splitlines()[0]}); drawn with torchview")
            _draw_torchview(model, example, path, depth)
            return "torchview"
    finally:
        model.train(was_training)
        for m, flag in checks:
            m.check_finite = flag
