"""De-identify an uploaded image before it is stored (pixels kept, identifiers removed).

Why: uploads carry identifiers in places a clinician never looks: DICOM header
elements (name, id, birth date, institution, dates, UIDs, private tags), JPEG
EXIF/comment segments and PNG text chunks. DICOM headers are scrubbed per the
Safe Harbor idea (dates reduced to the year, names and ids removed, UIDs
replaced); JPEG and PNG metadata are dropped losslessly, leaving the
compressed pixel stream untouched.
"""
from __future__ import annotations

import io
import struct

from engine.errors import InputError

#: Elements removed outright (blanked when Type 2 in the IOD, so the file stays valid).
DICOM_REMOVE = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "OtherPatientIDs", "OtherPatientNames",
    "OtherPatientIDsSequence", "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName",
    "MilitaryRank", "EthnicGroup", "PatientComments", "InstitutionName", "InstitutionAddress",
    "InstitutionalDepartmentName", "ReferringPhysicianName", "ReferringPhysicianAddress", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "OperatorsName", "PhysiciansOfRecord", "RequestingPhysician", "AccessionNumber",
    "StationName", "DeviceSerialNumber", "StudyID", "IssuerOfPatientID", "MedicalRecordLocator", "PatientInsurancePlanCodeSequence",
    "RequestAttributesSequence", "StudyDescription", "AdmittingDiagnosesDescription", "AdditionalPatientHistory",
)
DICOM_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "InstanceCreationDate", "OverlayDate",
               "CurveDate", "PerformedProcedureStepStartDate")
DICOM_TIMES = ("StudyTime", "SeriesTime", "AcquisitionTime", "ContentTime", "InstanceCreationTime",
               "PerformedProcedureStepStartTime", "AcquisitionDateTime")
DICOM_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")

JPEG_KEEP_APP = {0xE0, 0xEE}  # JFIF header and Adobe colour transform: needed to decode; nothing personal
PNG_DROP_CHUNKS = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}


def deidentify(data: bytes, kind: str) -> bytes:
    """Return de-identified bytes of an already validated image of ``kind`` (dicom, jpeg, png)."""
    if kind == "dicom":
        return deidentify_dicom(data)
    if kind == "jpeg":
        return strip_jpeg_metadata(data)
    if kind == "png":
        return strip_png_metadata(data)
    raise InputError(f"Cannot de-identify an image of type {kind}.")


def deidentify_dicom(data: bytes) -> bytes:
    """Blank identifying elements, keep only the year of dates, replace UIDs, drop private tags."""
    import pydicom
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(io.BytesIO(data))
    for keyword in DICOM_REMOVE:
        if keyword in ds:
            delattr(ds, keyword)
    ds.PatientName = ""
    ds.PatientID = ""
    ds.PatientBirthDate = ""
    for keyword in DICOM_DATES:
        value = str(ds.get(keyword, "") or "")
        if keyword in ds:
            setattr(ds, keyword, f"{value[:4]}0101" if len(value) >= 4 else "")
    for keyword in DICOM_TIMES:
        if keyword in ds:
            delattr(ds, keyword)
    for keyword in DICOM_UIDS:
        if keyword in ds:
            new = generate_uid(entropy_srcs=[str(ds.get(keyword)), "clinsight-deid"])
            setattr(ds, keyword, new)
            if keyword == "SOPInstanceUID" and hasattr(ds, "file_meta"):
                ds.file_meta.MediaStorageSOPInstanceUID = new
    ds.remove_private_tags()
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "ClinSight: ids removed, dates to year, new UIDs"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=False)
    return out.getvalue()


def strip_jpeg_metadata(data: bytes) -> bytes:
    """Drop APPn (EXIF, XMP, ICC...) and COM segments before the scan; entropy-coded data untouched."""
    if data[:2] != b"\xff\xd8":
        raise InputError("Not a JPEG stream.")
    out = bytearray(b"\xff\xd8")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise InputError("The JPEG file's header is damaged.")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: copy the rest verbatim
            out += data[pos:]
            return bytes(out)
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segment = data[pos:pos + 2 + length]
        is_app = 0xE0 <= marker <= 0xEF
        if not ((is_app and marker not in JPEG_KEEP_APP) or marker == 0xFE):
            out += segment
        pos += 2 + length
    raise InputError("The JPEG file ends before its image data.")


def strip_png_metadata(data: bytes) -> bytes:
    """Drop text, EXIF and time chunks; keep every chunk needed to draw the image."""
    out = bytearray(data[:8])
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        ctype = data[pos + 4:pos + 8]
        chunk = data[pos:pos + 12 + length]
        if ctype not in PNG_DROP_CHUNKS:
            out += chunk
        pos += 12 + length
        if ctype == b"IEND":
            break
    return bytes(out)




