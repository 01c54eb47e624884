"""Where glasskit's data files live (templates, cluster profiles), next to the package."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
CLUSTERS = ROOT / "hpc" / "clusters"
