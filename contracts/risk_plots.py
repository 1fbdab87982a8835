"""Pictures of a clearing: the network (nodes sized by what they owe, coloured by default round) and the
shortfall by round. matplotlib is optional: ``available()`` says whether it is installed.

Cost: networkx spring layout, O(iterations x parties²) for the layout; meant for networks of up to a few
hundred parties (larger ones draw only the 300 parties that owe the most).
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from .clearing import Clearing

MAX_DRAWN = 300


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _save(figure, path) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=directory)
    os.close(handle)
    try:
        figure.savefig(temp, dpi=120, metadata={"Software": None})
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temp, 0o666 & ~mask)  # mkstemp makes 0600; give the usual file mode
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def render(result: Clearing, out_dir) -> list:
    """Write network.png and shortfall_by_round.png into ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    net = result.network
    owed = net.owed
    keep = np.argsort(-owed, kind="stable")[:MAX_DRAWN]
    kept = set(keep.tolist())
    graph = nx.DiGraph()
    graph.add_nodes_from(sorted(kept))
    for i, j, a in zip(net.debtor.tolist(), net.creditor.tolist(), net.amount.tolist()):
        if a > 0 and i in kept and j in kept:
            graph.add_edge(i, j, amount=a)
    if len(kept) <= 60:
        position = nx.kamada_kawai_layout(graph.to_undirected(), weight=None)
    else:
        position = nx.spring_layout(graph, seed=7, k=2.0 / max(np.sqrt(len(kept)), 1.0), weight=None)
    rounds = max(len(result.rounds), 1)
    cmap = plt.get_cmap("autumn", rounds)
    nodes = list(graph.nodes)
    colors = [(0.55, 0.75, 0.55, 1.0) if result.default_round[k] == 0 else cmap(result.default_round[k] - 1)
              for k in nodes]
    top = float(max(owed.max(), 1)) if len(owed) else 1.0
    sizes = [150 + 2500 * np.sqrt(owed[k] / top) for k in nodes]
    widths = [0.5 + 4 * np.sqrt(graph.edges[e]["amount"] / max(net.amount.max(), 1)) for e in graph.edges]
    figure, axes = plt.subplots(figsize=(10, 8))
    nx.draw_networkx_edges(graph, position, ax=axes, width=widths, alpha=0.45, arrowsize=12,
                           connectionstyle="arc3,rad=0.12", node_size=sizes)
    nx.draw_networkx_nodes(graph, position, ax=axes, node_color=colors, node_size=sizes, edgecolors="black",
                           linewidths=0.6)
    if len(nodes) <= 60:
        nx.draw_networkx_labels(graph, position, ax=axes, labels={k: net.parties[k] for k in nodes}, font_size=8)
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=(0.55, 0.75, 0.55), label="no default")]
    handles += [plt.Line2D([], [], marker="o", linestyle="", color=cmap(r), label=f"defaults in round {r + 1}")
                for r in range(len(result.rounds))]
    axes.legend(handles=handles, loc="best", fontsize=8)
    axes.set_title("obligation network: node size = what a party owes, colour = default round")
    axes.axis("off")
    figure.tight_layout()
    paths = [os.path.join(out_dir, "network.png"), os.path.join(out_dir, "shortfall_by_round.png")]
    _save(figure, paths[0])
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(7, 4))
    labels = [str(r.round) for r in result.rounds]
    top = max((r.shortfall for r in result.rounds), default=0)
    unit, word = next(((u, w) for u, w in ((10**15, "billions"), (10**12, "millions"), (10**9, "thousands"))
                       if top >= u), (10**6, ""))
    values = [r.shortfall / unit for r in result.rounds]  # a picture: floats for the axis only
    axes.bar(labels, values, color=[cmap(k) for k in range(len(labels))], edgecolor="black")
    axes.set_xlabel("round")
    axes.set_ylabel(f"total shortfall after the round ($ {word})".replace(" )", ")"))
    axes.set_title("shortfall by round" if labels else "shortfall by round: nobody defaults")
    figure.tight_layout()
    _save(figure, paths[1])
    plt.close(figure)
    return paths
