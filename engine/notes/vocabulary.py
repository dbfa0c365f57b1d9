"""Problems and findings the notes reader looks for, with synonyms and abbreviations, mapped to ICD-10-CM.

Coverage (checked by tests/engine/notes/test_vocabulary.py): every ICD-10-CM category a treatment rule
reads (engine/treatment/rules/*.yaml), the conditions behind the models' yes/no inputs (anaemia,
diabetes, hypertension, smoking, prior stroke, exercise angina), and common chest radiograph findings.
Codes are the ICD-10-CM index's entry for the unqualified term (e.g. "diabetes" without a type is E11,
per the ICD-10-CM Official Guidelines I.C.4.a.2); a more specific phrase gets its own code.
Abbreviations are matched case-sensitively (``MI``, ``PE``) so ordinary words are not read as findings.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Finding:
    """One problem or finding: its code, a display label, phrases (lower case) and abbreviations (exact)."""

    code: str
    label: str
    phrases: tuple[str, ...]
    abbreviations: tuple[str, ...] = ()
    radiograph: bool = False  # a chest radiograph finding (imaging link)


FINDINGS: tuple[Finding, ...] = (
    # Cardiovascular (treatment rules: I10, R03.0, I20-I25, I63, G45, I70, I50, E78)
    Finding("I10", "Hypertension", ("hypertension", "high blood pressure", "essential hypertension",
                                    "hypertensive"), ("HTN",)),
    Finding("R03.0", "Elevated blood pressure", ("elevated blood pressure", "raised blood pressure")),
    Finding("I20.9", "Angina pectoris", ("angina", "angina pectoris", "exertional angina", "exercise angina",
                                         "exercise-induced angina")),
    Finding("I21.9", "Myocardial infarction", ("myocardial infarction", "heart attack", "stemi", "nstemi"),
            ("MI", "AMI")),
    Finding("I22.9", "Subsequent myocardial infarction", ("recurrent myocardial infarction", "reinfarction",
                                                         "subsequent myocardial infarction")),
    Finding("I23.7", "Postinfarction angina", ("postinfarction angina", "post-infarction angina")),
    Finding("I24.9", "Acute ischaemic heart disease", ("acute coronary syndrome", "acute ischemic heart disease",
                                                       "acute ischaemic heart disease"), ("ACS",)),
    Finding("I25.10", "Coronary artery disease", ("coronary artery disease", "coronary heart disease",
                                                 "ischemic heart disease", "ischaemic heart disease",
                                                 "coronary atherosclerosis"), ("CAD", "CHD", "IHD")),
    Finding("I63.9", "Cerebral infarction (stroke)", ("stroke", "cerebral infarction", "cerebrovascular accident",
                                                     "ischemic stroke", "ischaemic stroke"), ("CVA",)),
    Finding("G45.9", "Transient ischaemic attack", ("transient ischemic attack", "transient ischaemic attack"),
            ("TIA",)),
    Finding("I70.90", "Atherosclerosis", ("atherosclerosis", "atherosclerotic disease")),
    Finding("I50.9", "Heart failure", ("heart failure", "congestive heart failure", "cardiac failure",
                                       "systolic heart failure", "diastolic heart failure"), ("CHF", "HF", "HFrEF",
                                                                                              "HFpEF")),
    Finding("E78.5", "Hyperlipidaemia", ("hyperlipidemia", "hyperlipidaemia", "dyslipidemia", "dyslipidaemia",
                                         "hypercholesterolemia", "hypercholesterolaemia", "high cholesterol",
                                         "increased cholesterol", "elevated cholesterol")),
    Finding("I48.91", "Atrial fibrillation", ("atrial fibrillation",), ("AF", "AFib", "Afib")),
    Finding("I82.409", "Deep vein thrombosis", ("deep vein thrombosis", "deep venous thrombosis"), ("DVT",)),
    Finding("I26.99", "Pulmonary embolism", ("pulmonary embolism", "pulmonary embolus"), ("PE",)),
    Finding("T78.3", "Angioedema", ("angioedema", "angio-oedema", "angioneurotic edema")),
    # Metabolic / renal (E10, E11, E13, N18)
    Finding("E11.9", "Diabetes mellitus (type 2 or unspecified)", ("diabetes", "diabetes mellitus",
                                                                  "type 2 diabetes", "type ii diabetes",
                                                                  "diabetes mellitus type 2", "diabetic"),
            ("DM", "T2DM", "NIDDM")),
    Finding("E10.9", "Type 1 diabetes mellitus", ("type 1 diabetes", "type i diabetes", "diabetes mellitus type 1",
                                                  "juvenile diabetes"), ("T1DM", "IDDM")),
    Finding("E13.9", "Other specified diabetes mellitus", ("secondary diabetes", "steroid-induced diabetes")),
    Finding("N18.9", "Chronic kidney disease", ("chronic kidney disease", "chronic renal failure",
                                                "chronic renal insufficiency", "renal insufficiency"), ("CKD", "CRF")),
    Finding("E66.9", "Obesity", ("obesity", "obese")),
    Finding("D64.9", "Anaemia", ("anemia", "anaemia", "anemic", "anaemic")),
    Finding("Z72.0", "Tobacco use", ("smoker", "smoking", "tobacco use", "cigarette smoking", "tobacco")),
    # Respiratory and chest radiograph findings (pneumonia rules: J12-J18)
    Finding("J18.9", "Pneumonia", ("pneumonia", "bronchopneumonia", "lobar pneumonia"), ("CAP",), radiograph=True),
    Finding("J12.9", "Viral pneumonia", ("viral pneumonia",), radiograph=True),
    Finding("J13", "Pneumococcal pneumonia", ("pneumococcal pneumonia", "streptococcus pneumoniae pneumonia")),
    Finding("J14", "Haemophilus influenzae pneumonia", ("haemophilus influenzae pneumonia",
                                                       "hemophilus influenzae pneumonia")),
    Finding("J15.9", "Bacterial pneumonia", ("bacterial pneumonia",)),
    Finding("J16.0", "Chlamydial pneumonia", ("chlamydial pneumonia",)),
    Finding("R91.8", "Lung opacity / consolidation", ("consolidation", "focal consolidation", "airspace disease",
                                                      "airspace opacity", "infiltrate", "infiltrates", "opacity",
                                                      "opacities"), radiograph=True),
    Finding("J90", "Pleural effusion", ("pleural effusion", "pleural effusions", "effusion", "effusions"),
            radiograph=True),
    Finding("J93.9", "Pneumothorax", ("pneumothorax",), ("PTX",), radiograph=True),
    Finding("J98.11", "Atelectasis", ("atelectasis", "atelectatic"), radiograph=True),
    Finding("I51.7", "Cardiomegaly", ("cardiomegaly", "enlarged heart", "enlarged cardiac silhouette"),
            radiograph=True),
    Finding("J81.1", "Pulmonary oedema", ("pulmonary edema", "pulmonary oedema", "interstitial edema"),
            radiograph=True),
    Finding("R91.1", "Pulmonary nodule", ("pulmonary nodule", "lung nodule", "nodule"), radiograph=True),
    Finding("J43.9", "Emphysema", ("emphysema", "hyperinflation"), radiograph=True),
    Finding("J44.9", "Chronic obstructive pulmonary disease", ("chronic obstructive pulmonary disease",
                                                              "chronic airway obstruction"), ("COPD",)),
    Finding("J45.909", "Asthma", ("asthma",)),
    Finding("J84.10", "Pulmonary fibrosis", ("pulmonary fibrosis", "interstitial lung disease"), ("ILD",),
            radiograph=True),
    # Symptoms often read from notes
    Finding("R50.9", "Fever", ("fever", "febrile", "pyrexia")),
    Finding("R05.9", "Cough", ("cough",)),
    Finding("R06.00", "Dyspnoea", ("dyspnea", "dyspnoea", "shortness of breath"), ("SOB",)),
    Finding("R07.9", "Chest pain", ("chest pain",)),
    Finding("R60.9", "Oedema", ("edema", "oedema", "leg swelling")),
)

BY_CODE: dict[str, Finding] = {f.code: f for f in FINDINGS}
RADIOGRAPH_CODES = frozenset(f.code for f in FINDINGS if f.radiograph)


def target_rules():
    """medspaCy TargetRules for every phrase and abbreviation, labelled with the ICD-10-CM code."""
    from medspacy.target_matcher import TargetRule

    rules = []
    for finding in FINDINGS:
        for phrase in finding.phrases:
            pattern = [{"LOWER": word} for word in phrase.replace("-", " - ").split()]
            rules.append(TargetRule(phrase, finding.code, pattern=pattern))
        for abbreviation in finding.abbreviations:
            rules.append(TargetRule(abbreviation, finding.code, pattern=[{"TEXT": abbreviation}]))
    return rules
