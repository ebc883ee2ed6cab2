"""Synthetic sample data of Chongming district: townships, gas pipelines, projects."""

from layers.sample.dataset import SampleDataset, generate_sample

__all__ = ["SampleDataset", "generate_sample"]
