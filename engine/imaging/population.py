"""Is the patient in the population the chest X-ray model was trained on? A caution beside the read.

Why: the model learned from children aged 1-5 (Kermany et al. 2018; the card's ``training_data.population``)
and the image checks judge the film, not the person. A film of an older child or an adult that looks like the
training films still gets a number, so the page says when the patient's recorded age lies outside that range,
and says so when no age is recorded (unknown is not absent: "to confirm"). Advisory, not blocking: the film's
own checks decide whether a probability is shown; an adult PA film is already withheld by its layout.
"""
from __future__ import annotations

import dataclasses

from engine.imaging.service import ImageAnalysis
from engine.privacy import OVER_89_GROUP

#: Ages (years) of the training population, as the card states it.
TRAINING_AGES = (1, 5)
#: From this age a patient is an adult.
ADULT_AGE = 18


def population_cautions(patient: dict) -> list[str]:
    """Sentences for a patient outside the training ages, or without a recorded age (empty when inside)."""
    age, group = patient.get("age"), patient.get("age_group")
    low, high = TRAINING_AGES
    if age is None and group == OVER_89_GROUP:
        age, shown = 90.0, "over 89"
    elif age is None:
        return [f"The patient's age is not recorded: to confirm that this is a child aged {low}-{high} (the ages the "
                "model was trained on) before relying on the read."]
    else:
        shown = group or f"{float(age):.0f}"
    if float(age) >= ADULT_AGE:
        return [f"The patient is an adult (age {shown}); the model was trained on children aged {low}-{high} and is "
                "not validated for adults: read with great care, if at all."]
    if not low <= float(age) < high + 1:
        return [f"The patient's age ({float(age):.0f}) is outside the ages the model was trained on ({low}-{high}); "
                "read with care."]
    return []


def with_population(analysis: ImageAnalysis, patient: dict) -> ImageAnalysis:
    """``analysis`` with the patient's population cautions added to its advisory warnings (the read unchanged)."""
    cautions = population_cautions(patient)
    if not cautions:
        return analysis
    quality = dataclasses.replace(analysis.quality, warnings=[*analysis.quality.warnings, *cautions])
    return dataclasses.replace(analysis, quality=quality)
