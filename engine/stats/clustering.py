"""Clustering: K-means or DBSCAN on standardised features, a PCA 2-D view, profiles, silhouette.

Features are z-scored first (otherwise cholesterol in mg/dL outweighs a 0/1
flag by two orders of magnitude); rows with a missing feature are left out and
counted. Profiles are reported on the original scale so a clinician can read
"cluster 2: older, lower ejection fraction".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from engine.errors import InputError
from engine.stats.common import numeric_values, require_columns

METHODS = ("kmeans", "dbscan")
# Silhouette is O(n^2); above this many rows it is computed on a seeded sample.
SILHOUETTE_SAMPLE = 5000


@dataclass
class ClusterResult:
    method: str
    features: list[str]
    labels: pd.Series              # cluster per row (index = cohort index); -1 = DBSCAN noise
    pca: pd.DataFrame              # pc1, pc2, cluster
    explained_variance: list[float]
    profiles: pd.DataFrame         # cluster, n, percent, then mean of each feature
    silhouette: float | None
    n_dropped: int
    caveats: list[str] = field(default_factory=list)
    methods: str = ""


def cluster_cohort(frame: pd.DataFrame, features: list[str], method: str = "kmeans", *, k: int = 3,
                   eps: float = 0.5, min_samples: int = 5, seed: int = 0) -> ClusterResult:
    """Cluster the cohort's rows on ``features`` (scaled)."""
    from sklearn.cluster import DBSCAN, KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    if method not in METHODS:
        raise InputError(f"Unknown clustering method '{method}'; use kmeans or dbscan.")
    if len(features) < 2:
        raise InputError("Choose at least two features to cluster on.")
    require_columns(frame, features)
    data = pd.DataFrame({c: numeric_values(frame, c) for c in features}).dropna()
    n_dropped = len(frame) - len(data)
    caveats = [f"{n_dropped} rows with a missing feature are left out."] if n_dropped else []
    constant = [c for c in features if data[c].nunique() < 2]
    if constant:
        raise InputError(f"Feature {', '.join(constant)} does not vary in this cohort.")
    if method == "kmeans" and not 2 <= k <= min(20, len(data) - 1):
        raise InputError(f"The number of clusters must be between 2 and {min(20, len(data) - 1)}.")
    if len(data) < 10:
        raise InputError(f"Only {len(data)} complete rows: too few to cluster.")
    x = StandardScaler().fit_transform(data.to_numpy())
    if method == "kmeans":
        model = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
        labels = model.labels_
        desc = f"K-means (k={k}, 10 initialisations, seed {seed})"
    else:
        labels = DBSCAN(eps=eps, min_samples=min_samples).fit(x).labels_
        desc = f"DBSCAN (eps={eps:g} in standard-deviation units, min_samples={min_samples})"
        noise = float((labels == -1).mean())
        if noise > 0.3:
            caveats.append(f"{noise:.0%} of rows are noise (-1): eps may be too small.")
    clustered = labels >= 0
    n_clusters = len(set(labels[clustered]))
    silhouette = None
    if n_clusters >= 2 and n_clusters < clustered.sum():
        xs, ls = x[clustered], labels[clustered]
        sample = SILHOUETTE_SAMPLE if len(xs) > SILHOUETTE_SAMPLE else None
        silhouette = float(silhouette_score(xs, ls, sample_size=sample, random_state=seed))
        if silhouette < 0.25:
            caveats.append(f"Silhouette {silhouette:.2f}: the clusters are weakly separated.")
    else:
        caveats.append("Fewer than two clusters were found: no silhouette score.")
    pca = PCA(n_components=2, random_state=seed).fit(x)
    coords = pca.transform(x)
    label_series = pd.Series(labels, index=data.index, name="cluster")
    profiles = data.groupby(labels).mean()
    profiles.insert(0, "percent", 100.0 * pd.Series(labels).value_counts().sort_index().to_numpy() / len(labels))
    profiles.insert(0, "n", pd.Series(labels).value_counts().sort_index().to_numpy())
    profiles.index.name = "cluster"
    profiles = profiles.reset_index()
    if (profiles["n"] < 5).any():
        caveats.append("A cluster has fewer than 5 members.")
    methods = (f"{desc} on {len(features)} standardised features ({', '.join(features)}) of {len(data):,} patients; "
               "shown on the first two principal components "
               f"({100 * pca.explained_variance_ratio_.sum():.0f}% of variance); separation by mean silhouette width.")
    return ClusterResult(method, list(features), label_series,
                         pd.DataFrame({"pc1": coords[:, 0], "pc2": coords[:, 1], "cluster": labels.astype(str)},
                                      index=data.index),
                         [float(v) for v in pca.explained_variance_ratio_], profiles, silhouette, n_dropped,
                         caveats, methods)
