"""VAE Latent Lab's torch-only library: configs, models, losses, data, training, checkpoints.

It never imports streamlit or plotly; the app's pages call into it.
"""
from .checkpoint import Checkpoint, CheckpointError, load, read_card, save
from .config import ConfigError, ModelConfig, TrainConfig
from .data.base import DatasetUnavailable, ImageData
from .distributions import DiagonalGaussian
from .losses import ELBOParts, elbo, iwae_log_likelihood, kl_weight
from .metrics import evaluate
from .models import VAE, build_model
from .plane import LatentPlane
from .progress import EpochReport, StepReport, TrainState
from .registry import DATASETS, MODEL_PRESETS, load_dataset, preset_config
from .runspec import DataSpec, PreparedRun, RunSpec, prepare_run
from .trainer import Trainer, TrainingDiverged

__all__ = [
    "Checkpoint", "CheckpointError", "ConfigError", "DATASETS", "DatasetUnavailable", "DiagonalGaussian", "ELBOParts",
    "EpochReport", "ImageData", "LatentPlane", "MODEL_PRESETS", "ModelConfig", "StepReport", "TrainConfig",
    "TrainState", "Trainer", "TrainingDiverged", "VAE", "build_model", "elbo", "evaluate", "iwae_log_likelihood",
    "kl_weight", "load", "load_dataset", "preset_config", "read_card", "save",
    "DataSpec", "PreparedRun", "RunSpec", "prepare_run",
]
