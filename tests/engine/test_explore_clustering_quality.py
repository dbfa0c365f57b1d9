"""Clustering, data quality, figures and the report, checked against hand computations."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from engine.demo_data import load_breast_cancer, load_uci_heart
from engine.errors import InputError
from engine.stats import figures as F
from engine.stats.clustering import cluster_cohort
from engine.stats.quality import assess_quality
from engine.stats.report import build_report_html, make_pin
from engine.stats.survival import fit_kaplan_meier

pytestmark = pytest.mark.both_backends  # store tests run on SQLite and PostgreSQL (issue 16)

FEATURES = ["mean radius", "mean texture", "mean concavity", "mean smoothness"]


@pytest.fixture(scope="module")
def wdbc() -> pd.DataFrame:
    return load_breast_cancer()


def test_kmeans_pca_silhouette_by_hand(wdbc):
    res = cluster_cohort(wdbc, FEATURES, "kmeans", k=2, seed=0)
    x = wdbc[FEATURES].to_numpy()
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    # PCA by SVD of the standardised matrix (sign of each component is arbitrary).
    u, s, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
    scores = u[:, :2] * s[:2]
    for j, col in enumerate(["pc1", "pc2"]):
        assert np.allclose(np.abs(res.pca[col].to_numpy()), np.abs(scores[:, j]), rtol=1e-6, atol=1e-9)
    assert res.explained_variance == pytest.approx(list((s ** 2 / (s ** 2).sum())[:2]), rel=1e-9)
    # Mean silhouette width by hand.
    labels = res.labels.to_numpy()
    d = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))
    sil = []
    for i in range(len(z)):
        same = labels == labels[i]
        a = d[i, same].sum() / (same.sum() - 1)
        b = d[i, ~same].mean()
        sil.append((b - a) / max(a, b))
    assert res.silhouette == pytest.approx(float(np.mean(sil)), rel=1e-9)
    # Profiles on the original scale; the clusters track malignancy (real structure, not noise).
    prof = res.profiles.set_index("cluster")
    assert prof["n"].sum() == len(wdbc)
    for c in prof.index:
        assert prof.loc[c, "mean radius"] == pytest.approx(wdbc.loc[labels == c, "mean radius"].mean(), rel=1e-9)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(wdbc["malignant"], labels) > 0.4
    assert "K-means" in res.methods


def test_dbscan_noise_and_errors(wdbc):
    res = cluster_cohort(wdbc, FEATURES[:2], "dbscan", eps=0.3, min_samples=5)
    assert (res.labels == -1).any() and -1 in set(res.profiles["cluster"])
    fig = F.build_cluster_figure(res, "all (n=569)")
    assert any(t.name.startswith("noise") for t in fig.data)
    with pytest.raises(InputError, match="at least two features"):
        cluster_cohort(wdbc, FEATURES[:1])
    with pytest.raises(InputError, match="between 2"):
        cluster_cohort(wdbc, FEATURES, k=1)


def test_quality_counts_by_hand():
    uci = load_uci_heart()
    res = assess_quality(uci[["age", "chol", "trestbps", "oldpeak", "sex", "target", "fbs"]])
    miss = res.missingness.set_index("column")
    assert miss.loc["chol", "missing"] == int(uci["chol"].isna().sum()) == 202
    out = res.outliers.set_index("column")
    chol = uci["chol"].dropna()
    q1, q3 = chol.quantile([0.25, 0.75])
    assert out.loc["chol", "iqr_outliers"] == int(((chol < q1 - 1.5 * (q3 - q1)) | (chol > q3 + 1.5 * (q3 - q1))).sum())
    zs = (chol - chol.mean()) / chol.std()
    assert out.loc["chol", "z_outliers"] == int((zs.abs() > 3).sum())
    bal = res.class_balance
    assert set(bal["column"]) >= {"target", "sex"}
    assert bal[(bal.column == "target") & (bal.level == "1")]["n"].iloc[0] == int(uci["target"].sum())
    assert any("More than 20% missing" in c for c in res.caveats)
    fig = F.build_missingness_figure(res)
    assert fig.data[0].type == "heatmap"
    assert F.build_class_balance_figure(res).data[0].type == "bar"


def test_figures_name_the_cohort(wdbc):
    label = "Cohort A (n=569)"
    for kind in ("histogram", "box", "violin"):
        fig = F.build_distribution_figure(wdbc, "mean radius", "malignant", kind, label)
        assert label in fig.layout.title.text and len(fig.data) == 2
    fig = F.build_scatter_figure(wdbc, "mean radius", "mean texture", None, label)
    slope = np.polyfit(wdbc["mean radius"], wdbc["mean texture"], 1)[0]
    assert f"slope {slope:.3g}" in fig.data[1].name


def test_report_embeds_cohort_methods_figure_and_escapes(wdbc):
    from lifelines.datasets import load_larynx

    km = fit_kaplan_meier(load_larynx(), "time", "death", "Stage_IV")
    fig = F.build_km_figure(km, "Larynx <all> (n=90)")
    assert json.loads(fig.to_json())["data"][0]["line"]["shape"] == "hv"
    pins = [make_pin("Survival by stage IV", "survival", "Larynx <all> (n=90)", "all patients of larynx",
                     km.methods, table=km.summary(), figure=fig, caveats=["A caveat & more"])]
    html = build_report_html(pins, author="ana", generated_at="2026-01-01T00:00:00+00:00")
    assert "Larynx &lt;all&gt; (n=90)" in html and "A caveat &amp; more" in html
    assert "Kaplan-Meier method" in html and "figure-1" in html
    assert html.count("<script type='text/javascript'>") == 1   # plotly.js embedded once, offline
    assert "<script src=" not in html   # nothing fetched at view time
    empty = build_report_html([])
    assert "No results were pinned" in empty and "<script" not in empty


def test_report_pdf_printed_offline_or_a_clear_error(monkeypatch, tmp_path):
    from engine.stats.report import PdfUnavailableError, build_report_pdf, pdf_available

    pins = [make_pin("Quality", "quality", "All (n=10)", "all patients of x", "Missingness per column.",
                     table=pd.DataFrame({"column": ["a"], "missing": [1]}))]
    html = build_report_html(pins)
    if pdf_available():
        pdf = build_report_pdf(html)
        assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") >= 1
    monkeypatch.setenv("CLINSIGHT_CHROMIUM", str(tmp_path / "no-chromium"))
    assert not pdf_available()
    with pytest.raises(PdfUnavailableError, match="print it from a browser"):
        build_report_pdf(html)


def test_figures_name_the_rows_they_leave_out(seeded_db):
    """Issue 12: never drop rows silently; a plot states how many rows it could not draw."""
    from engine.frames import dataset_frame
    from engine.stats.figures import build_distribution_figure, build_scatter_figure

    frame = dataset_frame(seeded_db, "uci_heart")
    missing = int(frame["total_cholesterol"].isna().sum())
    assert missing > 0
    title = build_distribution_figure(frame, "total_cholesterol", "sex", "box", "All (n=920)").layout.title.text
    assert f"{missing} rows with a missing value left out" in title
    both = int((frame["total_cholesterol"].isna() | frame["age"].isna()).sum())
    title = build_scatter_figure(frame, "age", "total_cholesterol", None, "All (n=920)").layout.title.text
    assert f"{both} rows with a missing value left out" in title
    assert "left out" not in build_scatter_figure(frame, "age", "age").layout.title.text


def test_printed_report_has_static_figures_and_fit_statistics(wdbc):
    """Issue 12: the PDF showed Plotly toolbars and no regression fit statistics."""
    from engine.stats.regression import fit_regression

    res = fit_regression(wdbc, 'malignant ~ Q("mean radius")', "logistic")
    fig = F.build_forest_figure(res, "WDBC (n=569)")
    pins = [make_pin("Logistic regression", "regression", "WDBC (n=569)", "all", res.methods, figure=fig,
                     statistics={"pseudo r squared": f"{res.fit['pseudo_r_squared']:.4g}", "llr p value": "<0.001"})]
    screen, printed = build_report_html(pins), build_report_html(pins, for_print=True)
    assert '"staticPlot": true' in printed and '"displayModeBar": false' in printed
    assert '"staticPlot"' not in screen and '"displaylogo": false' in screen     # interactive on screen
    assert ".modebar-container { display: none !important; }" in screen         # and hidden when printed
    for html in (screen, printed):
        assert "<caption>Fit statistics</caption>" in html and "<td>llr p value</td><td>&lt;0.001</td>" in html
