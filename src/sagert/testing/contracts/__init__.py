"""sagert's plugin contract checks, for sagert's own tests and for plugin authors.

Each `check_*` raises ContractError (an AssertionError) whose message names the plugin, what it
did and what the contract asks instead; call them from a test. `parametrize(kind)` makes one
pytest case per registered plugin (entry-point plugins included) and `check_plugin(kind, name)`
runs the right check on one; `scripted_model` is the mock model the checks use, for a
plugin's own tests. See docs/plugins.md.
"""

from sagert.testing.contracts.base import (
    PROMPT,
    REQUEST,
    RESPONSE,
    REWRITE,
    ContractError,
    scripted_model,
)
from sagert.testing.contracts.formats import check_format
from sagert.testing.contracts.judges import check_judge
from sagert.testing.contracts.loaders import check_loader
from sagert.testing.contracts.plugins import (
    KINDS,
    check_plugin,
    isolated_registries,
    parametrize,
    plugin_names,
    plugin_registry,
)
from sagert.testing.contracts.providers import check_provider
from sagert.testing.contracts.stages import check_stage
from sagert.testing.contracts.taxonomies import check_taxonomy
from sagert.testing.contracts.transforms import check_attack, check_operator

__all__ = [
    "KINDS",
    "PROMPT",
    "REQUEST",
    "RESPONSE",
    "REWRITE",
    "ContractError",
    "check_attack",
    "check_format",
    "check_judge",
    "check_loader",
    "check_operator",
    "check_plugin",
    "check_provider",
    "check_stage",
    "check_taxonomy",
    "isolated_registries",
    "parametrize",
    "plugin_names",
    "plugin_registry",
    "scripted_model",
]
