"""The paper's study (issue 15): job files, figures, claims, report and cost record.

Pipeline of one figure (``python -m hpc_nc.paper``, ``make paper [FIG=N] [NP=n]``)::

    jobs/paper/figN.yaml --hpc-nc run (resumable)--> results/paper/figN.h5
        --data.export_figure_data--> docs/reproduction/figN/{tasks,ensemble,radial,costs}.csv
        --figures.FIGURES[N]--> docs/reproduction/figN/figN.png
    all figN/ --report.write_report--> docs/reproduction/README.md

Figures and the report read only the CSV files, so a checkout whose CSVs are complete
re-plots without the (uncommitted) HDF5 results. Modules: :mod:`.data` (CSV export and
loading), :mod:`.figures` (one function per paper figure), :mod:`.claims` (the paper's
statements as data), :mod:`.cost` (cost model and measured cost record), :mod:`.report`,
:mod:`.driver` (the command line). Units as in docs/physics.md: eV, Å (figures in nm).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperFigure:
    """One figure of the paper: its number, job file (repository-relative) and subject."""

    number: int
    job: str
    subject: str
    radial: bool = False  # the figure shows radial densities: export them (radial.csv)


FIGURES: dict[int, PaperFigure] = {
    f.number: f
    for f in (
        PaperFigure(2, "jobs/paper/fig2.yaml", "Zn1-xInxS core-only dot (R = 4 a): E1, H1 vs In content, VCA/NSTR/STR"),
        PaperFigure(3, "jobs/paper/fig3.yaml", "InS/ZnS R = H = 3 a: radial densities vs InS/ZnS VBO", radial=True),
        PaperFigure(4, "jobs/paper/fig4.yaml", "InS/ZnS, R + H = 6 a: radial densities for R = 2-5 a", radial=True),
        PaperFigure(
            5, "jobs/paper/fig5.yaml", "Zn0.5In0.5S/ZnS, H = 3 a: radial densities for R = 1, 3, 5 a", radial=True
        ),
        PaperFigure(6, "jobs/paper/fig6.yaml", "InS/ZnS and Zn0.5In0.5S/ZnS: gap and |d|^2 maps over (R, H)"),
        PaperFigure(7, "jobs/paper/fig7.yaml", "Zn1-xCuxS core-only dot (R = 4 a): E1, H1 vs Cu content"),
        PaperFigure(8, "jobs/paper/fig8.yaml", "CuS/ZnS R = H = 3 a: radial densities vs CuS/ZnS VBO", radial=True),
        PaperFigure(
            9, "jobs/paper/fig9.yaml", "Zn0.5Cu0.5S/ZnS, H = 3 a: radial densities for R = 1, 3, 5 a", radial=True
        ),
        PaperFigure(10, "jobs/paper/fig10.yaml", "CuS/ZnS and Zn0.5Cu0.5S/ZnS: gap and |d|^2 maps over (R, H)"),
        PaperFigure(11, "jobs/paper/fig11.yaml", "ZnCuInS/ZnS R = 4 a, H = 2 a: E1, H1, exciton over (Cu, In)"),
        PaperFigure(12, "jobs/paper/fig12.yaml", "ZnCuInS/ZnS, three dots: |d|^2 and dXX over (Cu, In)"),
    )
}
# Beyond the paper: Figs. 6 and 10 one size step further (issue 15, item 5). Key "ext".
EXTENDED = PaperFigure(0, "jobs/paper/fig6_10_extended.yaml", "Figs. 6/10 maps extended to R = 6 a, H = 5 a")


def figure_dir_name(number: int) -> str:
    """Directory of a figure under docs/reproduction ("fig6"; "fig6_10_extended" for 0)."""
    return "fig6_10_extended" if number == 0 else f"fig{number}"
