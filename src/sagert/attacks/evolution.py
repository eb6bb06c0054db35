"""Query-evolution operators (Evol-Instruct style): one prompt in, one harder prompt out.

Each operator is a template under templates/evolution/ that gets the current prompt and asks
for ONE rewritten prompt in the same harm category, more specific or harder; the shared
`llm_rewrite` helper cleans and checks the answer and retries.
"""

from __future__ import annotations

from sagert.attacks.common import operator
from sagert.attacks.llm_rewrite import LLMOperator


@operator
class Deepen(LLMOperator):
    name = "deepen"
    description = "Asks for more depth: underlying mechanisms, reasons, finer detail."
    template = "evolution/deepen.j2"


@operator
class Concretize(LLMOperator):
    name = "concretize"
    description = "Replaces general terms with specific, concrete ones (names, quantities, places)."
    template = "evolution/concretize.j2"


@operator
class AddConstraints(LLMOperator):
    name = "add_constraints"
    description = "Adds one or two requirements or constraints the answer must satisfy."
    template = "evolution/add_constraints.j2"


@operator
class AddContext(LLMOperator):
    name = "add_context"
    description = "Adds a persona and a situation that motivate the request."
    template = "evolution/add_context.j2"


@operator
class MultiStep(LLMOperator):
    name = "multi_step"
    description = "Makes the request need several explicit reasoning or planning steps."
    template = "evolution/multi_step.j2"


@operator
class Breadth(LLMOperator):
    name = "breadth"
    description = "A new prompt in the same harm category but a different scenario (more coverage)."
    template = "evolution/breadth.j2"
    min_ratio = 0.3
