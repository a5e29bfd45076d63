"""De-identification of Spanish clinical and radiology report text.

Finds protected health information in the DiSMed categories of the BIMCV
paper and replaces it:

========  ==========================================================
NAME      patients, relatives named, staff (``Dr. Marín``, ``Nombre: Pedro``)
DIR       street addresses and postal codes
LOC       cities, towns, provinces, regions, countries
NUM       identifying numbers and codes: record numbers, IDs, insurance
          and licence numbers, phone and fax numbers, e-mail addresses
FECHA     dates in any Spanish form (``27-01-20``, ``27/01/2020``,
          ``27 de enero de 2020``, ``enero 2020``, ``año 2004``)
INST      hospitals, health centres, institutions
========  ==========================================================

Detection combines rules (form headers such as ``NHC:``/``Domicilio:``,
date, number, e-mail, street and institution patterns, titles such as
``Dr.``) with gazetteers (:mod:`.gazetteers`).  Works on ordinary text and
on BIMCV's lower-cased, accent-stripped form (where capitalization cannot
help, only the rules that do not need it fire).

Replacement is a category placeholder (``[NAME]``) by default, or a
consistent surrogate (:class:`Surrogates`): the same original maps to the
same surrogate for one patient key; dates are shifted by the patient's shift
when one is given, so intervals between dates are kept.  Spans are reported
as offsets and category only; nothing here logs or raises with the text.
"""
from __future__ import annotations

import bisect
import datetime as _dt
import functools
import hashlib
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import gazetteers as gz
from .tagger import MEDDOCAN_TYPES

__all__ = ["CATEGORIES", "EXTRA_CATEGORIES", "PHI_TYPES", "COARSE", "DEFAULT_POLICY", "PhiSpan", "DeidResult",
           "find_phi", "find_phi_rules", "deidentify", "Surrogates", "generalize_age"]

#: The coarse view: the six DiSMed categories of the BIMCV paper.
CATEGORIES: tuple[str, ...] = ("NAME", "DIR", "LOC", "NUM", "FECHA", "INST")
#: Coarse categories of the MEDDOCAN types the BIMCV scheme has no category for (ages, sex, relatives,
#: professions and other details of the patient).
EXTRA_CATEGORIES: tuple[str, ...] = ("EDAD", "SEXO", "OTROS")

#: Every PHI type of the MEDDOCAN annotation guidelines: the 22 the corpus annotates
#: (:data:`covidbank.nlp.tagger.MEDDOCAN_TYPES`), then the guideline's other identifiers (URLs, IP addresses,
#: health-plan, vehicle, device, biometric and other numbers) the rules find.
PHI_TYPES: tuple[str, ...] = MEDDOCAN_TYPES + (
    "URL_WEB", "DIREC_PROT_INTERNET", "NUMERO_BENEF_PLAN_SALUD", "IDENTIF_VEHICULOS_NAVES", "IDENTIF_DISPOSITIVOS",
    "IDENTIF_BIOMETRICOS", "OTRO_NUMERO_IDENTIF",
)

#: PHI type -> coarse category.
COARSE: dict[str, str] = {
    "NOMBRE_SUJETO_ASISTENCIA": "NAME", "NOMBRE_PERSONAL_SANITARIO": "NAME",
    "EDAD_SUJETO_ASISTENCIA": "EDAD", "SEXO_SUJETO_ASISTENCIA": "SEXO",
    "FAMILIARES_SUJETO_ASISTENCIA": "OTROS", "OTROS_SUJETO_ASISTENCIA": "OTROS", "PROFESION": "OTROS",
    "FECHAS": "FECHA", "CALLE": "DIR", "TERRITORIO": "LOC", "PAIS": "LOC",
    "HOSPITAL": "INST", "INSTITUCION": "INST", "CENTRO_SALUD": "INST",
    **{t: "NUM" for t in ("ID_SUJETO_ASISTENCIA", "ID_TITULACION_PERSONAL_SANITARIO", "ID_EMPLEO_PERSONAL_SANITARIO",
                          "ID_CONTACTO_ASISTENCIAL", "ID_ASEGURAMIENTO", "NUMERO_TELEFONO", "NUMERO_FAX",
                          "CORREO_ELECTRONICO", "URL_WEB", "DIREC_PROT_INTERNET", "NUMERO_BENEF_PLAN_SALUD",
                          "IDENTIF_VEHICULOS_NAVES", "IDENTIF_DISPOSITIVOS", "IDENTIF_BIOMETRICOS",
                          "OTRO_NUMERO_IDENTIF")},
}

#: What :func:`deidentify` does with each type by default: ``keep`` the text, ``generalize`` (ages: kept up to
#: 89, written ``90+`` above, as HIPAA's Safe Harbor method does), ``surrogate`` (a consistent surrogate when a
#: :class:`Surrogates` is given, else the placeholder) or ``remove`` (always the placeholder).
DEFAULT_POLICY: dict[str, str] = {
    **{t: "surrogate" for t in PHI_TYPES},
    "SEXO_SUJETO_ASISTENCIA": "keep",
    "EDAD_SUJETO_ASISTENCIA": "generalize",
    # no meaningful surrogate: the placeholder
    "FAMILIARES_SUJETO_ASISTENCIA": "remove", "OTROS_SUJETO_ASISTENCIA": "remove", "PROFESION": "remove",
}
_ACTIONS = ("keep", "generalize", "surrogate", "remove")
# rule types sure of the type, and of the boundaries only where the tagger's span starts at the same word: a
# title's name may be a street's ("Paseo Dr. Marañón, 14"), a header's value runs on ("Remitido por: Ana Gil,
# Servicio de Nefrología, Hospital ..."); chosen on MEDDOCAN dev (subtrack 1 F1 0.9579 with names sure of their
# boundaries wherever they overlap the tagger's, 0.9624 without)
_TYPE_ONLY = frozenset({"NOMBRE_PERSONAL_SANITARIO", "NOMBRE_SUJETO_ASISTENCIA"})

_U = "A-ZÁÉÍÓÚÜÑÀÈÒÇ"  # upper-case letters
_L = "a-záéíóúüñàèòçï"
_CAP = rf"[{_U}][{_L}{_U}'’-]*"  # a capitalized word
_PART = r"(?:de|del|la|las|los|el|y|i|da|das|do|dos|d'|l'|van|von|di|San|Santa|Sant)"
_TITLES = r"(?:Dr|Dra|Dres|Dras|Drs|Sr|Sra|Srta|Dña|Doña|Don|Doctor|Doctora|Prof|Profesor|Profesora|DR|DRA)"
#: A Spanish postcode (provinces 01-52).
_POSTCODE = r"(?:0[1-9]|[1-4]\d|5[0-2])\d{3}"
# the article some town names start with: "A Coruña", "O Barco", "L'Hospitalet", "Es Castell"
_TOWN_ARTICLE = r"(?:(?:A|O|El|La|Las|Los|Es|Sa|Les|Els)\s|L['’])"
# words after a postcode that are contact details, not a town
_CONTACT_WORD = r"(?i:e-?mail|correos?|tel(?:[eé]fonos?)?|tfno|tlf|fax|m[oó]vil|direcci[oó]n)\b"

MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "setiembre",
          "octubre", "noviembre", "diciembre")
_MON = r"(?:ene(?:ro)?|feb(?:rero)?|mar(?:zo)?|abr(?:il)?|may(?:o)?|jun(?:io)?|jul(?:io)?|ago(?:sto)?|sep(?:tiembre)?|set(?:iembre)?|oct(?:ubre)?|nov(?:iembre)?|dic(?:iembre)?)"
_MONF = r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre)"


@dataclass(frozen=True)
class PhiSpan:
    """One piece of protected information: offsets in the input text, its coarse category and PHI type.

    ``category`` is one of :data:`CATEGORIES` or :data:`EXTRA_CATEGORIES`; ``type`` one of :data:`PHI_TYPES`
    (empty for a bare rule span before typing).
    """

    start: int
    end: int
    category: str
    type: str = ""

    def as_dict(self) -> dict:
        """``{"start", "end", "category", "type"}`` (never the text)."""
        return {"start": self.start, "end": self.end, "category": self.category, "type": self.type}


@dataclass
class DeidResult:
    """De-identified text and the spans found in the *input* text."""

    text: str
    spans: list[PhiSpan]


# --------------------------------------------------------------------- rules
_I = re.IGNORECASE
# form headers: "Nombre: Pedro."  (value up to the end of line or the next "Key:")
_HEADER_KEYS: list[tuple[str, str]] = [
    (r"nombre(?: y apellidos)?|apellidos?|paciente|m[eé]dic[oa](?: responsable| solicitante| remitente)?|"
     r"doctor(?:a)?|facultativo|radi[oó]logo|firmado(?: por)?|fdo\.?|informado por|supervisado por|remitido por|"
     r"responsable cl[ií]nico|solicitado por|atendido por|realizado por", "NAME"),
    (r"nhc|n\.?\s?h\.?\s?c\.?|historia(?: cl[ií]nica)?|n[ºo°]\s?(?:de\s)?historia|nass|n[ºo°]\s?ss|"
     r"n[ºo°]\s?col(?:egiado)?\.?|n[uú]m(?:ero)?\.? (?:de )?colegiado|dni|nif|nie|cip|sip|tis|tarjeta sanitaria|"
     r"id|n[ºo°]\s?(?:de\s)?(?:petici[oó]n|exploraci[oó]n|episodio|estudio|informe)|episodio|petici[oó]n|"
     r"n[uú]mero (?:de )?(?:exploraci[oó]n|petici[oó]n|episodio|historia)|c[oó]digo|"
     r"correo(?: electr[oó]nico)?|e-?mail|tel[eé]fono|tlf\.?|tfno\.?|fax|m[oó]vil", "NUM"),
    (r"domicilio|direcci[oó]n|calle|c\.?p\.?|c[oó]digo postal", "DIR"),
    (r"localidad(?:\s*/\s*provincia)?|provincia|poblaci[oó]n|municipio|pa[ií]s|lugar de nacimiento|ciudad|"
     r"natural de|residencia", "LOC"),
    (r"fecha(?: de| del)? [\w ]{0,25}?|f\.\s?(?:nacimiento|realizaci[oó]n|ingreso|alta)|fecha|f\.?\s?nac\.?", "FECHA"),
    (r"hospital|centro(?: de salud| solicitante| de procedencia)?|instituci[oó]n|servicio procedencia", "INST"),
]
_STOPPER_KEYS = (r"edad|sexo|nombre|apellidos|nhc|domicilio|localidad|provincia|cp|pa[ií]s|fecha[\w ]{0,25}|m[eé]dico|"
                 r"n[ºo°]\s?col\w*\.?|correo[\w ]{0,15}|e-?mail|tel[eé]fono|fax|nass|hospital|centro|servicio|"
                 r"historia[\w ]{0,15}|episodio|dni|nif|cip|sip|motivo|diagn[oó]stico|remitido por|ciudad|direcci[oó]n|f\.\s?\w+")
_HEADER = re.compile(
    r"(?im)(?:^|(?<=[\s.;,\ufeff]))(?P<key>" + "|".join(f"(?P<k{i}>{k})" for i, (k, _) in enumerate(_HEADER_KEYS))
    + r")\s*:[ \t]*(?P<val>[^\n]*?)(?=[ \t]*(?:$|\n)|(?:(?<=\s)|[ \t]+)(?:" + _STOPPER_KEYS + r")\s*:|[ \t]{2,}[A-Za-zº]{2,}[\wºª./ ]{0,20}:)"
)
_HEADER_VALUE_END = re.compile(r"(?:\d|(?<![^\W\d_])(?P<w>[^\W\d_]{3,}))\.(?=\s+[^\W\d_]{2})")
_ABBREVIATIONS = frozenset(
    "univ gral avda hosp dpto serv dra sra srta ctra edif izq dcha pta prov clin inst nac num urb pza plza "
    "med cons cent resid bloq portal esc piso ext tel".split()
)
# Words that start an address after a name ("Dr. Ana Gil Av. Galaxia 6"): the name ends there, so the address
# is caught as one.  (A name that runs on into an institution is left so: it is redacted either way.)  Only the
# unambiguous ones (abbreviations with their dot, "C/", "Avenida"): Plaza, Calle, Camino, Ronda and Paseo are
# also surnames, and Camino a given name.
_STREET_START = r"(?:C/|(?:Av|Avd|Avda|Pso|Pza|Pl|Ctra|Urb)\.|Avenida\b)"
_STREET_START_RX = re.compile(_STREET_START)
# A full street word starts an address, not a surname, when a house number follows: "Paseo de la Castellana
# 100", but "Dra. Plaza", "Dr. Juan Calle Urbano".
# a house number: not the day of a date, the hour of a time, an age or a duration ("12/03/2020", "10:30",
# "45 años", "3 días", "24 h", "2 de marzo")
_HOUSE_NUMBER = (r"\d{1,4}(?!\d|[/.:]\d|[ \t]*(?:años|a\b|h\b|horas?\b|d[ií]as\b|meses\b|semanas\b|min\b|"
                 r"(?:de |-)(?i:ene|feb|mar|abr|may|jun|jul|ago|sep|oct|nov|dic)))")
_STREET_WORDS = r"(?:Calle|Plaza|Paseo|Camino|Ronda|Carretera|Travesía|Glorieta|Rambla|Vía|Carrer|Passeig|Plaça|Rúa)\b"
_STREET_AHEAD = (rf"{_STREET_WORDS}[ \t]+(?:(?!{_STREET_WORDS}|{_STREET_START}|{_CONTACT_WORD})(?:{_PART}|{_CAP}),?[ \t]+){{0,5}}"
                 rf"{_HOUSE_NUMBER}")
_ADDRESS_START_RX = re.compile(rf"{_STREET_START}|{_STREET_AHEAD}")
# a role, a degree or a title after a name ends the name ("Alberto Palacios Hernández Residente de 5º año",
# "Naveenjayakumar, MDS Reader", "Dra. Teresa Sada Ovalle Doctor Vertiz 737": a street named after a doctor)
_ROLE_WORD = (r"(?:Residente|Supervisora?|Reader|Adjunt[oa]|Jef[ea]|Coordinadora?|Directora?|Profesora?|"
              r"Catedr[aá]tic[oa]|Departamento|Department|MDS|PhD|MD|Doctora?|Dra?)(?![\w])")
_NOT_A_NAME = rf"(?:{_STREET_START}|{_STREET_AHEAD}|{_CONTACT_WORD}|{_ROLE_WORD})"
_ROLE_WORD_RX = re.compile(_ROLE_WORD)
_CONTACT_WORD_RX = re.compile(_CONTACT_WORD)
# ... but the first word after a title or a header key is the name even if a house number follows ("Sra. Plaza
# Gómez, 45 años", "Dr. Ronda García 2 veces")
_NOT_A_FIRST_NAME = rf"(?:{_STREET_START}|{_CONTACT_WORD})"
# one word of a name, with the particles before it
_NAME_UNIT = rf"(?:{_PART}[ \t]+)*(?:[A-Z]\.(?![a-z])|{_CAP})"
# the details of an address after its house number: "737 interior 35", "92, piso 3, puerta 4", "7 Bajo B", "2 3ºC"
# (lower-cased and accent-stripped: "2 3oc")
_ADDRESS_DETAIL = (r"(?:[ \t]*,?[ \t]*(?i:interior|int\.?|piso|puerta|planta|bajo|dpto\.?|depto\.?|departamento|"
                   r"apto\.?|apartamento|esc\.?|escalera|local|oficina)(?![\w])[ \t]*(?:\d{1,4}[ºª°]?[A-Za-z]?(?![\w])|"
                   r"[A-Za-z](?![\w]))?|[ºª°][A-Za-z]?(?![\w])|(?<=\d)[oa][a-z]?(?![\w])"
                   r"|[ \t]*,?[ \t]*\d{1,2}[ºª°][A-Za-z]?(?![\w])|(?<=\d)-\d{1,4}[A-Za-z]?(?![\w/]))*")
# a street named after a doctor or a professor, written without its street word: the title, up to four name
# words, then a house number and its details, where the address goes on or ends ("Doctor Esquerdo, 46, 28007
# Madrid", "Dr. Vértiz 737 interior 35 Colonia Narvarte", "Profesor Martín Lagos s/n"); not "Dr. Ronda García
# 2 veces", "Dra. Gil, 45 años" (a unit after the number, or no address after it)
_TITLED_STREET = re.compile(
    rf"(?<![\w.])(?:Doctora?|Dra?\.?|Profesora?|Prof\.)[ \t]+(?:(?!{_TITLES}\b){_NAME_UNIT}[ \t]+){{0,3}}"
    rf"(?!{_TITLES}\b){_NAME_UNIT},?[ \t]+(?:{_HOUSE_NUMBER}|s/n)(?![\w/]|,\d){_ADDRESS_DETAIL}"
    rf"(?=[ \t]*(?:[,.;)\n]|$|{_POSTCODE}\b|Col(?:onia)?\b))")
# ... in lower-cased text, where the name's words cannot tell: only with the address's details or postcode after
# the number ("doctor vertiz 737 interior 35", "dr esquerdo 46, 28007 madrid")
_TITLED_STREET_LOWER = re.compile(
    rf"(?<![\w.])(?:doctora?|dra?\.?|profesora?|prof\.)[ \t]+(?:(?!(?:doctora?|dra?)\b)[{_L}]{{2,}}[ \t]+){{0,3}}"
    rf"(?!(?:doctora?|dra?)\b)[{_L}]{{3,}},?[ \t]+"
    rf"(?:{_HOUSE_NUMBER}|s/n)(?![\w/])(?=[ \t]*,?[ \t]*(?:(?:interior|int\.?|piso|puerta|planta|dpto|depto|"
    rf"departamento)\b|{_POSTCODE}\b)){_ADDRESS_DETAIL}")
# the name at the start of a header value, after an optional title: "Dr. José María de la Rosa Gómez" (not a
# street named after a doctor: "Remitido por: Doctor Lucio 120 interior 4")
_LEAD_NAME = re.compile(rf"(?!{_TITLED_STREET.pattern})(?:{_TITLES}\.?[ \t]+)?"
                        rf"(?P<n>(?!{_NOT_A_FIRST_NAME}){_NAME_UNIT}[ \t]*,?[ \t]*(?:(?!{_NOT_A_NAME}){_NAME_UNIT}[ \t]*,?[ \t]*)*)")
# header keys that do not always introduce a person ("Remitido por: Neumología", "Realizado por: Equipo
# Portátil"): their value counts as a name only after a title or with a known given name or surname in it
_LOOSE_NAME_KEY = re.compile(r"(?i)remitido por|responsable cl[ií]nico|solicitado por|atendido por|realizado por")

_DATE_RULES = [
    r"\b(?:0?[1-9]|[12]\d|3[01])\s?[/.-]\s?(?:0?[1-9]|1[0-2])\s?[/.-]\s?(?:\d{4}|\d{2})\b(?!\s*(?:mg|ml|mcg|ui|g\b|comp))",
    r"\b\d{4}[/.-]\d{1,2}[/.-]\d{1,2}\b",
    r"\b\d{4} \d{2} \d{2}t\d{2} \d{2} \d{2}\b",
    rf"\b(?:(?:lunes|martes|mi[eé]rcoles|jueves|viernes|s[aá]bado|domingo),?\s+)?\d{{1,2}}(?:\s+de)?\s+{_MONF}(?:\s+(?:de|del)\s+|\s+|,\s*)\d{{4}}\b",
    rf"\b\d{{1,2}}(?:\s+de)?\s+{_MONF}\b",
    rf"\b\d{{1,2}}[-/ ]{_MON}\.?[-/ ]\d{{2,4}}\b",
    rf"\b{_MONF}(?:\s+(?:de|del)\s+|\s+|[-/])(?:\d{{4}}|\d{{2}})\b",
    r"\b(?:primavera|verano|oto[nñ]o|invierno|navidad(?:es)?)\s+(?:de|del)\s+\d{4}\b",
    r"\b(?:a[nñ]o|a[nñ]os|d[eé]cada de(?: los)?)\s+(?:19|20)\d{2}\b",
    r"\b(?:19[2-9]\d|20[0-3]\d)\b(?!\s*(?:mg|ml|mm|cm|ui|u\b|g\b|kg|%|/|mcg|meq|mmol|x\b))",
    rf"\b{_MONF}\b",
]
_DATE = re.compile("|".join(f"(?:{r})" for r in _DATE_RULES), _I)
# lower-cased BIMCV form: "27 01 20", "del 17 03"
_DATE_SPACED = re.compile(r"\b(?:(?P<d>[0-3]?\d) (?P<m>[01]?\d) (?P<y>(?:19|20)\d{2}|\d{2})|(?<=\bdel )(?P<d2>[0-3]?\d) (?P<m2>[01]?\d))\b")

_UNITS = r"(?:mg|ml|mm|cm|ui|u\b|g\b|gr|kg|%|mcg|µg|meq|mmol|mmhg|lpm|rpm|x\b|cc|l\b|dl|mui|ng|pg|años|meses|d[ií]as|horas|semanas)"
# what follows a count of cells written with a space for thousands ("12 200 leucocitos", "25 000/µl"): no identifier
_CELL_COUNT = (r"(?:/[ \t]*(?:[µμu]l|mm3|mm³|ml|dl|l\b)|(?i:leucocitos|plaquetas|hemat[ií]es|c[eé]lulas|linfocitos|"
               r"neutr[oó]filos|copias|cel\b|c[eé]l\b))")
_NUM_RULES = [
    # an e-mail address; tried only where a run of its characters starts (linear on long runs)
    (r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "NUM", "CORREO_ELECTRONICO"),
    (r"(?:https?://|www\.)[^\s,;)\]]+(?<![.])", "NUM", "URL_WEB"),
    (r"(?:\+\s?34\s?)?\b[6789]\d{2}(?:[ .-]?\d{2,3}){2,3}(?:\s?(?:ext\.?|extensi[oó]n)\s?\d{2,5})?\b"
     rf"(?!\s*{_UNITS})", "NUM", ""),
    (rf"\b[A-Z]{{1,4}}-?\d{{4,}}(?:[-/]?\d+)*[A-Z]?\b(?!\s*{_UNITS})", "NUM", ""),
    (rf"\b[A-Z]{{1,4}} \d{{5,}}[A-Z]?\b(?!\s*{_UNITS})", "NUM", ""),
    (rf"\b(?!\d{{3}}000\b|\d{{4}}00\b)\d{{6,}}[A-Z]?\b(?!\s*{_UNITS})", "NUM", ""),
    # spaced groups: a count or a decimal follows a single group only ("12 300 leucocitos", "CA 19.9 58,3 U/ml"); a run
    # of more groups is an id or a phone number whatever follows it ("NHC 12 345 678 Leucocitos", "91 234 56 78,91")
    (rf"\b\d{{1,4}}(?: \d{{2,}}){{2,4}}\b(?!\s*{_UNITS})", "NUM", ""),
    (rf"\b\d{{1,4}} \d{{2,}}\b(?!\s*{_UNITS}|[.,]\d|\s*{_CELL_COUNT})", "NUM", ""),
    (rf"\b\d{{2,4}}(?:-\d{{2,}}){{2,4}}\b(?!\s*{_UNITS})", "NUM", ""),
    (r"\b\d{1,2}[./]\d{3}[./]\d{3}[-\s]?[A-Za-z]\b", "NUM", ""),
]
_NUM = [(re.compile(p), c, t) for p, c, t in _NUM_RULES]
# two spaced groups right after an id's or a phone's key: an id whatever follows it (a count's rule spares them)
_SPACED_PAIR = re.compile(rf"\b\d{{1,4}} \d{{2,}}\b(?!\s*{_UNITS})")
_ID_KEY_BEFORE = re.compile(rf"(?i)(?<![\w])(?:{_HEADER_KEYS[1][0]}|h\.?\s?c|contacto|nss)[ \t]*[:.]?[ \t]*$")
# a record number after its key with no colon (BIMCV's lower-cased form: "nhc  93544", "hc   60332")
_RECORD_NUM = re.compile(r"(?<![\w.])(?:n\.?\s?h\.?\s?c|h\.?\s?c|historia(?: cl[ií]nica)?|n[ºo°]\s?(?:de\s)?historia|"
                         r"anexo|informe original|firmado(?: por)?)\.?"
                         r"[ \t]*(?:n[ºo°]\.?)?[ \t]*(?P<n>\d{3,}[A-Za-z]?|\d{2}(?![ \t]*(?:a[ñn]os|d[ií]as|horas|h|meses|"
                         r"semanas|min|mg|ml|cm|mm|%)\b))\b", _I)
# a name in capitals written surnames first, ending its line or sentence ("TEIXIDOR QUISPE, ULPIANO")
_CAPS_INVERTED_NAME = re.compile(r"[ \t]+(?P<n>[A-ZÁÉÍÓÚÑÜ'’-]{2,}(?:[ \t]+[A-ZÁÉÍÓÚÑÜ'’-]{2,}){0,3}[ \t]*,[ \t]*"
                                 r"[A-ZÁÉÍÓÚÑÜªº]{1,}\.?(?:[ \t]+[A-ZÁÉÍÓÚÑÜ'’-]{2,}){0,2})(?=[ \t]*(?:[.;]|\r?\n|$))")
# BIMCV's lower-cased signature: "firmado  1226 diaz  nombrepropio" (staff number, then a surname)
_SIGNED_LOWER = re.compile(r"\bfirmado(?: por)?[ \t]+\d{3,}[ \t]+(?P<n>(?!nombrepropio\b)[a-zñáéíóúü]{2,})\b")
_ZIP = re.compile(rf"\b{_POSTCODE}\b")
# a postcode after its label, or before a capitalized town ("28035 Madrid")
_ZIP_CTX = re.compile(rf"(?:\b(?:CP|C\.P\.|(?i:c[oó]digo postal))\s*:?\s*(?P<z>\d{{5}})\b)|"
                      rf"(?:\b(?<!\w\w-)(?P<z2>{_POSTCODE})(?=,?\s+[A-ZÁÉÍÓÚ][a-záéíóúñ]))")
# In an address (after a comma, a full stop, a house number, "s/n", a line start or the "E-" country prefix), a
# postcode with the town after it (without a town, "PCR 250, 12500 de dímero D" is a lab value), articled or upper case too: "..., 31620 Gorraiz (Navarra)", "s/n. 08907
# L'Hospitalet de Llobregat", "261, 28046 - Madrid", "Km. 1 · 46006 GANDIA", "E-23400 Ubeda"
_ADDRESS_ZIP = re.compile(
    rf"\b(?P<z>{_POSTCODE})\b"
    rf"(?:(?:,?|\s-)[ \t]+(?!{_CONTACT_WORD})(?P<t>{_TOWN_ARTICLE}?[{_U}](?:[{_L}]|[{_U}]{{2}})[{_L}{_U}'’-]*"
    rf"(?:[ \t]+(?!{_CONTACT_WORD})(?:{_PART}[ \t]+)?{_CAP}){{0,3}})(?!\.\w))")
# what comes right before a postcode in an address (checked on the few numbers that look like one)
_ZIP_CONTEXT_BEFORE = re.compile(r"(?:[,.;·(]\s?|\d\s|s/n\s|E-|\n)$")
# a number after one of these labels is an identifier, not a postcode
_NUM_LABEL_BEFORE = re.compile(r"(?i)\b(?:sip|cip|nhc|dni|nif|nie|tel\w*|tlf|fax|m[oó]vil|n[ºo°]|historia\w*|exploraci[oó]n|"
                               r"petici[oó]n|episodio|id)\W*$")

_STREET_TYPES = (r"C/\.?|c/\.?|Avd\.|Calle|calle|CALLE|Avda\.?|avda\.?|Avenida|avenida|Av\.|Paseo|paseo|Pso\.|Plaza|plaza|Pza\.?|Pl\.|"
                 r"Travesía|Travesia|travesía|Camino|camino|Ronda|Carretera|carretera|Ctra\.?|ctra\.?|Glorieta|Urbanización|"
                 r"Urb\.|Pasaje|Rambla|Vía|Via|Costanilla|Cuesta|Callejón|Bulevar|Polígono|Pol\.|Partida|Barrio|Ps\.|Rúa|Rua|Carrer|"
                 r"Passeig|Avinguda|Plaça")
# a lower-case word of a street name, when the house number or "s/n" follows ("C/ Doctor Martín lagos, s/n")
_LOWER_STREET_WORD = rf"[{_L}]{{3,}}(?=(?:[ \t]+[{_L}{_U}]+){{0,2}},?[ \t]*(?:\d|s/n))"
# an abbreviation inside a street's name ("C/ Ntra. Sra. del Pilar 8", "Avda. Gral. Perón 12")
_STREET_ABBREVIATION = r"(?:Ntra|Ntro|Nra|Sra|Sr|Sta|Sto|Gral|Dr|Dra|Prof|Pdte|Hno|Mtro)\.(?=[ \t]+\w)"
# one word of a street name; after the first, a word that starts another address ends it
_STREET_UNIT = rf"(?:{_PART}\b|{_STREET_ABBREVIATION}|{_CAP}|[A-Z]\.|{_HOUSE_NUMBER}(?:º|ª)?\b|{_LOWER_STREET_WORD})[ \t]*"
_STREET = re.compile(
    rf"(?<![\w/])(?i:{_STREET_TYPES})[ \t]*(?!{_STREET_START}){_STREET_UNIT}(?:(?!{_STREET_START}|{_STREET_AHEAD}){_STREET_UNIT}){{0,6}}"
    rf"(?:,?\s*(?:n\s?º|nº|n\.º|no\.|núm\.?|número|num\.?)?\s*\d+(?![/.:]\d)(?:\s?[A-Za-z](?![\w'’]|-\d{{5}}(?!\d)))?\b|,?\s*s/n)?"
    rf"(?:(?:,|\s?-)?\s*(?:\d+(?![/.:]\d)[ºª]?(?:\s?[A-Za-z](?![\w'’]|-\d{{5}}(?!\d)))?|\d+\s?-\s?\d+|(?:bajo|piso|puerta|escalera|esc\.?)\s*\w*)\b)*"
)
# "PL." in capitals without a house number before a word in lower case is a lumbar puncture ("mediante PL. Tras
# ello"), no square; a square's name in capitals is one ("PL. MAYOR", "PL. ANCHA s/n")
_LUMBAR_PUNCTURE = re.compile(r"PL\.[ \t]*+(?![A-ZÁÉÍÓÚÑÜ]{2,}(?!\w))\D*$")
# a street is named: a capitalized word or a number after its type ("vía oral cada 6 h" is not a street)
_NAMED_STREET = re.compile(rf"\S+[ \t]*(?:{_PART}[ \t]*)*(?:{_CAP}|\d)")
# ... and in lower-cased text (BIMCV's form, where no name is capitalized): a full street word, then a house number
# or "s/n" ("glorieta del ejercito, 1", "paseo de la libertad s/n"; never "via oral cada 6 h")
_LOWER_NAMED_STREET = re.compile(r"(?:c/|calle|avenida|avda\.?|paseo|plaza|glorieta|ronda|carretera|ctra\.|passeig|"
                                 r"avinguda|placa|plaça|rambla|travesia|travesía)[ \t]+[a-zñáéíóúüç]"
                                 r".*?(?:[ \t,](?:n[ºo°.]?[ \t]*)?\d{1,4}\b(?![.,:/]\d)|s/n)")
_TITLE_BEFORE = re.compile(rf"\b{_TITLES}\.?[ \t]+$")
# the circle of Willis is anatomy, not an industrial estate ("polígono")
_WILLIS = re.compile(r"(?i)pol[ií]gono de willis")
# a street without its street word but with an interior number, as Mexican addresses are written ("Insurgentes
# Sur 1582 interior 4", "Reforma 222 int. 5")
_INTERIOR_STREET = re.compile(
    rf"(?<![\w.])(?:(?i:{_STREET_TYPES})[ \t]*)?(?!{_TITLES}\b){_NAME_UNIT}(?:[ \t]+(?!{_TITLES}\b){_NAME_UNIT}){{0,3}},?[ \t]+\d{{1,5}}[ \t]*,?[ \t]*(?i:interior|int\.|dpto\.?|"
    rf"depto\.?|departamento)[ \t]*\d{{1,4}}[A-Za-z]?(?![\w])(?![ \t]*{_UNITS}\b){_ADDRESS_DETAIL}")
# an institution's word right before a title: the institution is named after the doctor, no street
_INST_WORD_BEFORE = re.compile(r"(?i)\b(?:hospital|cl[ií]nica|centro|universitario|instituto|fundaci[oó]n|complejo|"
                               r"general|cl[ií]nico|sanatorio|residencia)[ \t]+$")
# a road address by its kilometre point: "C. Madrid Km. 1", "Ctra. de Colmenar Km 9,1"
_ROAD_KM = re.compile(rf"(?<![\w])(?:C\.|Ctra\.?|Carretera|CTRA\.?)[ \t]*(?:(?:{_PART}|{_CAP})[ \t]+){{1,5}}[Kk][Mm]\.?[ \t]*\d+(?:[.,]\d+)?")
# Upper-case form fields without a colon, as bilingual (Spanish / Valencian-Catalan) hospital forms print them:
# the label, then the value on the same line ("PRIMER APELLIDO GARCIA", "DIRECCION PLAÇA MAJOR 2 puerta 4 46010";
# DIRECCIÓ, DOMICILI, POBLACIÓ, COGNOM are the Valencian labels) or on the next line after a label line
# ("METGE PETICIONARI / MÉDICO PETICIONARIO\nGARCIA LOPEZ , ANA").  Only upper-case labels at a line start
# count; a name value must be upper case and look like a name, an address value must hold a number and a street
# word or a postcode (so "DIRECCION CRANEOCAUDAL DE 5 CM" and all-caps report text are left alone).
_FORM_INLINE_KEYS = (
    (r"PRIMER APELLIDO|SEGUNDO APELLIDO|APELLIDOS?|NOMBRE|NOM|PRIMER COGNOM|SEGON COGNOM|COGNOMS?", "NAME"),
    (r"DIRECCI[OÓ]N?|DOMICILIO?|ADRE[ÇC]A", "DIR"),
    (r"POBLACI[OÓ]N?|LOCALIDAD|LOCALITAT|MUNICIPIO?|PROVINCIA|PROV[IÍ]NCIA", "LOC"),
)
_FORM_INLINE = re.compile(
    r"(?m)^[ \t]*(?:" + "|".join(f"(?P<f{i}>{k})" for i, (k, _) in enumerate(_FORM_INLINE_KEYS))
    + r")[ \t]+(?P<val>[^\n:]+)$"
)
_FORM_NAME_LINE = re.compile(
    r"(?m)^[ \t]*(?:[^\n/:]{2,40} / )?(?:M[EÉ]DICO (?:PETICIONARIO|SOLICITANTE|RESPONSABLE|INFORMANTE)|NOMBRE FACULTATIVO|"
    r"FACULTATIVO|M[EÉ]DICO|RADI[OÓ]LOGO|PACIENTE|NOMBRE DEL PACIENTE|NOMBRE Y APELLIDOS)[ \t]*\n"
    rf"[ \t]*(?P<val>[{_U}][{_U}' .,-]+?)[ \t]*$"
)
# an upper-case value of up to five words: a name in an upper-case form
_UPPER_VALUE = re.compile(rf"[{_U}][{_U}'’-]*(?:[ \t]*,?[ \t]+[{_U}][{_U}'’-]*){{0,4}}")
# an address value: a number and a street word or a postcode
_ADDRESS_VALUE = re.compile(rf"(?i:{_STREET_TYPES}|\bpuerta|\bpiso|\bn[ºo°]|s/n)[^\n]*\d|\b{_POSTCODE}\b")

_INST_HEAD_WORDS = (r"Hospital|Cl[ií]nica|Centro|Servicio|Unidad|Instituto|Institut|Fundaci[oó]n?|Universi\w+|Facultad|"
                    r"Departamento|Laboratorios?|Instruments?|Corporation|Inc|Ltd|S\.A\.?|S\.L\.?")
_INST_HEAD = (r"Hospital(?:es)?|HOSPITAL|Complejo Hospitalario|Complexo Hospitalario|Complejo Asistencial|Cl[ií]nica|CL[IÍ]NICA|"
              r"Centro de Salud|Centro Médico|Centro Medico|Centro de Especialidades|Centro de Atención Primaria|"
              r"Centro de Transfusión|Centro|Policl[ií]nica|Sanatorio|Instituto|Institut|Fundación|Fundació|Universidad|"
              r"Universitat|Facultad|Consorcio|Consorci|Corporació|Servicio (?:Navarro|Andaluz|Vasco|Madrileño|Gallego|Canario|Murciano|Aragonés|Cántabro|Extremeño|Riojano|de Salud)|"
              r"Osakidetza|Mutua|Residencia|Laboratorios?|C\.S\.|H\.U\.|Xarxa|Ambulatorio|Red de|Sociedad Española de|Agencia")
#: Companies and acronyms that name an institution on their own.
_ORGS = re.compile(
    r"\b(?:Merck|MSD|Pfizer|Allergan(?: Humphrey)?|Alcon(?: Cus[ií])?|Novartis|Roche|Bayer|Sanofi(?: Aventis)?|Lilly(?: y Dista)?|"
    r"GSK|GlaxoSmithKline|AstraZeneca|Janssen(?:-Cilag)?|Boehringer(?: Ingelheim)?|Abbott|Medtronic|Boston Scientific|"
    r"Johnson & Johnson|Carl Zeiss(?: Meditec)?|Zeiss|Schering-Plough|Schering|Grifols|Almirall|Esteve|Siemens|Philips|"
    r"General Electric|Bristol-Myers Squibb|Amgen|Baxter|Fresenius|B\. Braun|Stryker|Topcon|Bausch & Lomb|Ipsen|Servier|"
    r"Teva|Mylan|Menarini|Rovi|Faes Farma|Gilead|ONCE|Cruz Roja|Diaverum|CHUVI|CHUAC|CHUS|HUCA|HCUV|HGUGM|HUVH|HUVR|HUMV|"
    r"IVML|INSALUD|SERMAS|SESCAM|SERGAS|Osakidetza|Sacyl|Salut|ICS)\b"
)
#: The acronyms of :data:`_ORGS` that name a hospital (complejo hospitalario universitario de Vigo, A Coruña, ...).
_HOSPITAL_ACRONYMS = frozenset("chuvi chuac chus huca hcuv hgugm huvh huvr humv".split())
# a lab value, no bare street: a decimal ("Hb 13,5", "Hb 11,4 g/dl") or a name of three letters or fewer ("TG 42")
_DECIMAL_AFTER = re.compile(r"[.,]\d")
_MEASURE_NOT_STREET = re.compile(r"\d[.,]\d+(?![ºª°\w])|^[^\W\d_]{1,3}[ \t]+\d")
# ... unless an address key comes before it ("Domicilio actual: Mayor 14,3", "Residencia: Sur 27, 7º A")
_ADDRESS_KEY_BEFORE = re.compile(r"(?i)(?<![\w])(?:domicilio|direcci[oó]n|residencia)(?![\w])[^\n:]{0,20}:[ \t]*$")
_BARE_STREET = re.compile(rf"(?<=[:\n] )(?:(?:{_PART}[ \t]+)?{_CAP}[ \t]+){{0,3}}{_CAP},?[ \t]+\d{{1,4}}\b(?:,\s*\d+º?\s?[A-Za-z]?)?(?=[.\n,])")
_INST = re.compile(
    rf"(?<![\w])(?:{_INST_HEAD})(?:[ \t]+(?!{_STREET_START}|{_STREET_AHEAD})(?:{_PART}[ \t]+)*(?:{_CAP}|\d+(?![/.:]\d)(?:[ \t]+de[ \t]+{_CAP})?|[A-Z]{{2,}}))+"
)
_TITLE = re.compile(
    rf"\b{_TITLES}\.?[ \t]+"
    rf"(?P<n>(?!{_NOT_A_FIRST_NAME}){_NAME_UNIT}[ \t]*(?:(?!{_NOT_A_NAME}){_NAME_UNIT}[ \t]*){{0,4}})"
)
_TITLE_LOWER = re.compile(r"\b(?:dr|dra|doctor|doctora)\b\s*\.?\s*(?P<n>(?:[a-z]{3,}\b\s*|[a-z]{2}\b(?=\s+[a-z]{2,})\s*){1,3})")
# a title in any case before a capitalized name ("doctor Ramírez", "DOCTORA Li Wei", "dra Popescu")
_TITLE_ANYCASE = re.compile(
    rf"(?<![\w.])(?i:doctora?|dra?|dres|sra?|srta)\.?[ \t]+"
    rf"(?P<n>(?!{_NOT_A_FIRST_NAME}){_NAME_UNIT}(?:[ \t]+(?!{_NOT_A_NAME}){_NAME_UNIT}){{0,3}})"
)
# a name after a header key in lower-cased text ("paciente: maria garcia lopez", "nombre jose martinez ruiz"):
# the words are checked against the gazetteers in :func:`_lower_header_names`
_LOWER_NAME_HEADER = re.compile(
    r"(?<![\w.])(?:paciente|nombre(?: y apellidos| del paciente)?|apellidos?|m[eé]dic[oa](?: solicitante| responsable|"
    r" remitente| peticionario)?|radi[oó]log[oa]|facultativo|firmado(?: por)?|informado por|remitido por|"
    r"solicitado por|supervisado por|realizado por|sr|sra|srta|don|do[nñ]a)[ \t]*[:.]?[ \t]*"
    r"(?P<n>[a-zñáéíóúüç'’-]{2,}(?:[ \t]+[a-zñáéíóúüç'’-]{1,}){0,5})"
)
# initials of a person ("J.G.L.", "j. g. l."): three or four single letters with dots
_INITIALS = re.compile(r"(?<![\w.])(?:[A-Za-zÁÉÍÓÚÑáéíóúñ]\.[ \t]?){2,3}[A-Za-zÁÉÍÓÚÑáéíóúñ]\.?(?![\w])")
# ... after a title, a person header or a word for a person ("R.T.U. de próstata", "I.N.R." are not people)
_PERSON_BEFORE = re.compile(r"(?i)(?:\b(?:dra?|doctora?|sra?|srta|don|do[nñ]a|prof|paciente|enfermer[oa]|t[eé]cnico|"
                            r"iniciales|firmado(?: por)?|fdo|informado por|remitido por|supervisado por|m[eé]dic[oa]|"
                            r"radi[oó]log[oa]|facultativo|nombre|apellidos)\b\.?)[ \t]*:?[ \t]*$")
_DIMENSIONS = re.compile(r"\d+(?:[.,]\d+)?(?:[xX]\d+(?:[.,]\d+)?)+(?:mm|cm|m)?")
_NOT_INITIALS = frozenset("nhc snc uci uvi ecg tac hta epoc aas eeuu ccaa ue ee uu rx rm tc ie eg pej vs ap".split())
# e-mail addresses written to dodge a filter: "maria (at) garcia.es", "maria arroba garcia punto es"
_OBFUSCATED_EMAIL = re.compile(
    r"(?i)(?<![\w.+-])[\w.+-]+[ \t]*(?:[(\[{<][ \t]*(?:at|arroba|@)[ \t]*[)\]}>]|[ \t](?:at|arroba)[ \t])[ \t]*[\w-]+"
    r"(?:[ \t]*(?:\.|[(\[{<][ \t]*(?:dot|punto)[ \t]*[)\]}>]|[ \t](?:dot|punto)[ \t])[ \t]*[\w-]+)+"
)
_IP = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d]|\.\d)"
                 r"|(?i:(?<![\w:])(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?![\w:]))")
# a relative of the patient ("su esposa", "abuelo paterno", "dos sobrinos")
_RELATIVE = re.compile(
    r"(?i)(?<![\w])(?:(?:dos|tres|cuatro|cinco|seis)[ \t]+)?"
    r"(?:padres|(?:bis)?abuel[oa]s?|herman[oa]s?|hij[oa]s?|t[ií][oa]s?|prim[oa]s?|sobrin[oa]s?|niet[oa]s?|"
    r"espos[oa]s?|marido|pareja|c[oó]nyuge|suegr[oa]s?|cu[nñ]ad[oa]s?|madre|padre|gemel[oa]s?|melliz[oa]s?)"
    r"(?:[ \t]+(?:patern[oa]s?|matern[oa]s?))?(?![\w])")
# an accession-like code: letters and at least five digits in one token ("2020RX0099887", "rx20200315001")
_CODE = re.compile(r"(?<![\w-])(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z0-9]{8,24}(?![\w-])")
# an age of 90 or more, written in digits ("94 años", "edad: 97"): the policy writes it as 90+
_OLD_AGE = re.compile(r"(?i)(?<![\w.,])(?:9\d|1[0-2]\d)[ \t]*(?:años|anos|a\.)(?:[ \t]+de[ \t]+edad)?(?![\w])"
                      r"|(?<=edad:)[ \t]*(?:9\d|1[0-2]\d)(?![\w.,])")
_CAP_RUN = re.compile(rf"\b(?:(?:{_CAP})(?:[ \t]+(?:(?:de|del|de la|de los|y|i)[ \t]+)?(?:{_CAP}))*)")
_TRIGGER_LOC = re.compile(
    rf"\b(?:natural de|nacid[oa] en|residente en|reside en|vive en|procedente de|originari[oa] de|de origen|viaje a|viajó a|"
    rf"hospital de|vecin[oa] de)[ \t]+(?P<p>{_CAP}(?:[ \t]+(?:{_PART}[ \t]+)?{_CAP}){{0,3}})"
)

# An address tail: capitalized places separated by commas that ends with a country ("Irvine, California, EE.UU.",
# "Maduravoyal, Chennai 600095, India"): the places before the country are places too.
_PLACE_ITEM = rf"(?:EE\.\s?UU\.?|{_CAP}(?:[ \t]+(?:{_PART}[ \t]+)?{_CAP}){{0,3}})"
_PLACE_CHAIN = re.compile(rf"(?<![\w.]){_PLACE_ITEM}(?:(?:[ \t]+\d{{4,6}})?,[ \t]*{_PLACE_ITEM}){{1,4}}")
_PLACE_ITEM_RX = re.compile(_PLACE_ITEM)  # one item of such a chain
# chain items that are not places: institutions, trade marks, short acronyms ("LSD", "OCT")
_NOT_A_PLACE = re.compile(rf"(?:{_INST_HEAD_WORDS}|Enfermedad|S[ií]ndrome|Arteria|Vena|L[oó]bulo|Test|Escala|Grado|Tipo|"
                          rf"Estadio|Virus)\b|.*®|[{_U}]{{1,4}}$")

# capitalized words that are never names or places on their own
_STOP = {gz.key(w) for w in (
    "El La Los Las Un Una Se Si No En De Del Al Con Por Para Sin Tras Ante Como Desde Hasta Que Y O "
    "Paciente Varón Mujer Hombre Niño Niña Edad Sexo Nombre Apellidos Informe Hospital Servicio Centro "
    "Clínica Médico Fecha Datos Exploración Diagnóstico Tratamiento Evolución Antecedentes Juicio "
    "Dr Dra Sr Sra Don Doña Calle Avenida Plaza Paseo Urgencias Cirugía Medicina Radiología Unidad "
    "Enero Febrero Marzo Abril Mayo Junio Julio Agosto Septiembre Octubre Noviembre Diciembre Lunes Martes Miércoles "
    "Jueves Viernes Sábado Domingo Rx TC RM TAC PET ECG UCI COVID Sars Nacional General Universitario Provincial "
    "Dios Virgen Santo Santa San Clínico Central Militar Gran Real Mayor Nuevo Nueva Alto Alta Bajo Baja Norte Sur "
    "Este Oeste Buen Bueno Blanco Negro Rojo Verde Rosa Luz Paz Sol Mar Salud Vida Cruz Reyes Flores Campos Vega "
    "Santos Ángeles Mercedes Dolores Remedios Pilar Rocío Consuelo Gracia Esperanza Victoria Fe Caridad Gloria "
    "Asunción Concepción Encarnación Purificación Soledad Amparo Milagros Nieves Angustias Inmaculada Socorro Prado "
    "Valle Castillo León Torre Torres Iglesias Palacios Prieto Moreno Rubio Calvo Delgado Serrano Ramos Crespo "
    "Nieto Pastor Cano Lozano Benito Bravo Franco Guerrero Soler Caballero Marín Medina Garrido Cortés Herrero "
    "Mora Ortiz Vidal Gallego Rey Diez Pascual Román Aguilar Vargas Carmona Parra Santiago Méndez Sanz Cabello "
    "Fuentes Ibáñez Cuesta Montero Muñoz Márquez Peña Ferrer Giménez Lorenzo Hidalgo Molina Ruiz Gil Martín Gómez "
    "Romero Navarro Díaz Vázquez Ramírez Domínguez Alonso Suárez Ortega Morales Castro Álvarez Jiménez Hernández "
    "Sánchez Pérez Martínez López González Fernández Rodríguez García Gutiérrez").split()}
# ... but surnames stay surnames next to another name word; the stop list only blocks single-word matches.
_ALWAYS_STOP = {gz.key(w) for w in (
    "El La Los Las Un Una Se Si No En De Del Al Con Por Para Sin Tras Ante Como Desde Hasta Que Y O "
    "Paciente Varón Mujer Hombre Niño Niña Edad Sexo Nombre Apellidos Informe Hospital Servicio Centro "
    "Clínica Médico Fecha Datos Exploración Diagnóstico Tratamiento Evolución Antecedentes Juicio "
    "Dr Dra Sr Sra Calle Avenida Plaza Paseo Urgencias Cirugía Medicina Radiología Unidad "
    "Enero Febrero Marzo Abril Mayo Junio Julio Agosto Septiembre Octubre Noviembre Diciembre "
    "Rx TC RM TAC PET ECG UCI COVID Se Ante Tras Durante Tras Presenta Refiere Niega Acude Ingresa Analítica "
    "Hemograma Bioquímica Orina Sangre Tórax Abdomen Cráneo Ecografía Resonancia Biopsia Anatomía Patológica "
    "Estudio Resultados Resultado Conclusión Comentario Discusión Caso Clínico Hallazgos Técnica Sistema "
    "E-mail Email Correo Correos Tel Teléfono Tfno Fax Móvil Dirección").split()}


# lower-case words that are also given names or surnames in the gazetteers but common words in reports
_LOWER_NOT_NAME = frozenset(
    "sin con por para que una uno dos tres del las los mas muy bien mal leve grave normal varon mujer hombre nino nina "
    "torax pulmon derecho derecha izquierdo izquierda campos campo base bases lobulo vidrio patron signos signo "
    "hilio hilios senos seno cardiaco silueta masa nodulo nodulos dolor fiebre tos covid neumonia rx tc control "
    "estudio previo previa mismo misma sala cama planta urgencias box uci ingresado ingresada portatil "
    "mayor menor nombrepropio".split())
# ... and surnames that are common words: not the first word of a lower-case name, but a later one
_LOWER_NOT_FIRST = _LOWER_NOT_NAME | frozenset(
    "blanco rojo verde negro mesa cruz sol vega prado flores campos leon valle torre ramos cano "
    "calvo moreno rubio bueno nieto santos reyes iglesias".split())
# ... and words that follow "paciente" in prose ("el paciente fuente"): no first word of a name unless a colon
# makes the words after it a field's value ("paciente: fuente munoz") or a name follows ("paciente fuente ortega")
_LOWER_PROSE_AFTER_HEADER = frozenset({"fuente"})
_LOWER_NOT_FIRST_IN_PROSE = _LOWER_NOT_FIRST | _LOWER_PROSE_AFTER_HEADER


def _name_spans(text: str) -> list[tuple[int, int]]:
    first, last = gz.first_names(), gz.last_names()
    out = []
    for m in _CAP_RUN.finditer(text):
        words = [(w.start(), w.end(), gz.key(w.group())) for w in re.finditer(rf"{_CAP}", m.group())]
        words = [(a + m.start(), b + m.start(), k) for a, b, k in words]
        # a name ends where an address starts ("Pilar Calle Urbano Avenida Blasco Ibáñez 17")
        # ... and where a role follows it ("Inmaculada Santos Amaya Departamento de Anatomía")
        cut = next((i for i, (a, _, _) in enumerate(words) if i and (_ADDRESS_START_RX.match(text, a)
                                                                     or _ROLE_WORD_RX.match(text, a)
                                                                     or _CONTACT_WORD_RX.match(text, a))), len(words))
        words = words[:cut]
        # trim leading/trailing words that cannot be part of a name
        is_name = [(k in first or k in last or ("-" in k and all(p in first or p in last for p in k.split("-") if p)))
                   and k not in _ALWAYS_STOP and not (text[a:b].isupper() and b - a <= 5)
                   for a, b, k in words]
        if not any(is_name):
            continue
        idx = [i for i, v in enumerate(is_name) if v]
        i0, i1 = idx[0], idx[-1]
        # extend over unknown capitalized words between/after name words (rare surnames)
        # (street words are surnames here: an address start already ended the run)
        while (i1 + 1 < len(words) and (words[i1 + 1][2] not in _ALWAYS_STOP or words[i1 + 1][2] in _NAME_STARTS)
               and words[i1 + 1][2] not in gz.places() and not _STREET_START_RX.match(text, words[i1 + 1][0])):
            i1 += 1
        n_name = sum(is_name[i0:i1 + 1])
        span_words = words[i0:i1 + 1]
        if len(span_words) == 1 and (span_words[0][2] in _STOP):
            continue
        if len(span_words) == 1 and n_name == 1 and _sentence_initial(text, span_words[0][0]) and span_words[0][2] in last:
            continue
        out.append((span_words[0][0], span_words[-1][1]))
    return out


def _sentence_initial(text: str, pos: int) -> bool:
    j = pos - 1
    while j >= 0 and text[j] in " \t":
        j -= 1
    return j < 0 or text[j] in ".\n:;!?"


def _place_spans(text: str) -> list[tuple[int, int]]:
    places, countries = gz.places(), gz.countries()
    out = []
    for m in _CAP_RUN.finditer(text):
        words = [(w.start() + m.start(), w.end() + m.start()) for w in re.finditer(rf"{_CAP}|\S+", m.group())]
        n = len(words)
        i = 0
        while i < n:
            hit = None
            for j in range(min(n, i + 5), i, -1):
                k = gz.key(text[words[i][0]:words[j - 1][1]])
                if k in places or k in countries:
                    hit = j
                    break
            if hit:
                out.append((words[i][0], words[hit - 1][1]))
                i = hit
            else:
                i += 1
    return out


def _place_chain_spans(text: str) -> list[tuple[int, int]]:
    """Places of address tails: comma chains of capitalized items whose last item is a country.

    Items that are findings or anatomy, institutions, trade marks or acronyms are left out, and a chain with
    nothing else before its country is a list in the report ("Cardiomegalia, Derrame Pleural, Granada").
    """
    countries = gz.countries()
    out = []
    for m in _PLACE_CHAIN.finditer(text):
        items = [(i.start(), i.end(), gz.key(i.group())) for i in _PLACE_ITEM_RX.finditer(text, m.start(), m.end())]
        if items[-1][2] not in countries:
            continue
        keep = [(a, b, k) for a, b, k in items[:-1]
                if k not in _ALWAYS_STOP and k not in _STOP and not _NOT_A_PLACE.match(text, a, b)
                and not _clinical_words().find(k)]
        if keep:
            out.extend((a, b) for a, b, _ in keep + [items[-1]])
    return out


_CAPITALIZED_WORD = re.compile(r"(?<![\w])[A-ZÁÉÍÓÚÑ][a-záéíóúñü]{2,}(?![\w])")


def _lower_cased(text: str) -> bool:
    """Whether ``text`` is written lower-cased (BIMCV's published form), where no name is capitalized: no
    capitalized word, capital acronyms allowed ("pcr positiva. PCR", "COVID-19")."""
    return _CAPITALIZED_WORD.search(text) is None


@functools.lru_cache(maxsize=1)
def _clinical_words():
    """The report labeler's findings and locations, to tell a list of findings from an address."""
    from .lexicon import FINDINGS, LOCATIONS
    from .matcher import PhraseMatcher

    return PhraseMatcher({**FINDINGS, **LOCATIONS})


def find_phi_rules(text: str) -> list[PhiSpan]:
    """The spans the rules and gazetteers find in ``text``, non-overlapping, in order (no tagger).

    Parameters
    ----------
    text : str
        Report text, ordinary or BIMCV's lower-cased form.

    Returns
    -------
    list of PhiSpan
        Offsets into ``text`` with their coarse category; ``type`` is set where the rule knows it.
    """
    return [PhiSpan(a, b, cat, typ) for a, b, cat, typ, _ in _rule_spans(text)]


def _rule_spans(text: str) -> list[tuple[int, int, str, str, int]]:
    """:func:`find_phi_rules` as ``(start, end, category, type, priority)``; priority 0 is a header value.

    Each rule of :data:`_RULES` adds candidate spans, in that order (the order breaks ties between
    candidates of one length and priority); :func:`_resolve` keeps a non-overlapping set.
    """
    if not text:
        return []
    cands: list[tuple[int, int, str, int, str]] = []  # start, end, category, priority (lower wins ties), type

    def add(a: int, b: int, cat: str, prio: int, typ: str = "") -> None:
        while b > a and text[b - 1] in " .,;:-)(\t\n":
            b -= 1
        while a < b and text[a] in " ,;:-(\t\n":
            a += 1
        if b > a:
            cands.append((a, b, cat, prio, typ))

    for rule in _RULES:
        rule(text, add)
    return _resolve(text, cands)


#: what a rule calls for each candidate: ``add(start, end, category, priority, type="")``
_Add = Callable[..., None]


def _header_values(text: str, add: _Add) -> None:
    """Values after a header key ("Nombre:", "NHC:", "Fecha de ingreso:"): the strongest evidence (priority 0)."""
    for m in _HEADER.finditer(text):
        val = m.group("val")
        if not val or not re.search(r"\w", val):
            continue
        cat = _category(m, _HEADER_KEYS, "k")
        a = m.start("val")
        if cat in ("NAME", "LOC", "INST") and not re.search(r"[A-Za-zÁÉÍÓÚÑáéíóúñ]", val):
            cat = "NUM"
        if cat == "FECHA" and not re.search(r"\d|" + _MONF, val, _I):
            continue
        if cat in ("NAME", "LOC"):
            lm = _LEAD_NAME.match(val)
            first_word = gz.key(lm.group("n").split()[0]) if lm and lm.group("n").strip() else ""
            if not first_word or (first_word in _ALWAYS_STOP and first_word not in _NAME_STARTS):
                continue
            if _LOOSE_NAME_KEY.fullmatch(m.group("key")) and not _looks_like_person(lm.group("n"), lm.start("n") > 0):
                continue
            a += lm.start("n")
            val = lm.group("n")
        elif cat == "FECHA":
            dm = _DATE.match(val)
            if dm:
                val = dm.group()
        else:
            val = _header_value_end(val)
            if cat == "NUM":
                val = _NEXT_KEY.split(val, 1)[0].rstrip()
        if cat == "NAME" and _SECTION_BEFORE_KEY.search(text, max(0, m.start("key") - 24), m.start("key")):
            continue  # "Informe clínico del paciente: Lactante de 12 meses" is a section title, not a name header
        if cat == "NAME":  # a person header names its kind of person: sure of the type
            staff = not re.match(r"(?i)paciente|nombre|apellido", m.group("key"))
            add(a, a + len(val), cat, 0, "NOMBRE_PERSONAL_SANITARIO" if staff else "NOMBRE_SUJETO_ASISTENCIA")
        else:
            add(a, a + len(val), cat, 0)


# MEDDOCAN's section title before the case ("Informe clínico del paciente: Varón de 53 años ..."); "Datos del
# paciente: Ana Gil" stays a name header
_SECTION_BEFORE_KEY = re.compile(r"(?i)\binforme(?:[ \t]+cl[ií]nico)?[ \t]+del[ \t]+$")


_EMAIL = _NUM[0][0]  # the e-mail address rule of _NUM_RULES
# the label glued before an address ("E-mail-ana@x.es", "E-mail.ana@x.es"): the address's pattern takes it in
_GLUED_EMAIL_LABEL = re.compile(r"(?i)e-?mail[.:-]+(?=[\w+])")


def _emails(text: str, lo: int = 0, hi: int | None = None) -> Iterator[tuple[int, int]]:
    """The e-mail addresses in ``text[lo:hi]``, without a label glued before them ("E-mail-ana@x.es")."""
    for m in _EMAIL.finditer(text, lo, len(text) if hi is None else hi):
        g = _GLUED_EMAIL_LABEL.match(text, m.start(), m.end())
        yield (m.start() if g is None else g.end()), m.end()
# the next field's key on the same line ends a number's header value ("Teléfono: 55123456 ana@x.mx Financiación:
# Ninguna"); what comes before it, names included, stays the value's (a name after an id is the patient's)
_NEXT_KEY = re.compile(r"[ \t]+(?=[A-ZÁÉÍÓÚÑ][a-záéíóúñ]{2,}(?:[ \t]+(?:de[ \t]+)?[a-záéíóúñ]{2,}){0,3}:)")


def _header_value_end(val: str) -> str:
    """A header value up to its sentence end (a period after a digit, or after a word that is not an abbreviation
    like "Univ." or "Avda.", then a word): the findings after it are not PHI and must survive. At most 80 chars."""
    for end in _HEADER_VALUE_END.finditer(val):
        word = gz.key(end.group("w") or "")
        if word not in _ABBREVIATIONS:
            val = val[: end.end() - 1]
            break
    return val[:80]


def _form_fields(text: str, add: _Add) -> None:
    """Upper-case values of form fields written inline ("DOMICILIO: ...") and name lines of a form."""
    for m in _FORM_INLINE.finditer(text):
        cat = _category(m, _FORM_INLINE_KEYS, "f")
        val = m.group("val").rstrip()[:80]
        if cat == "DIR" and not _ADDRESS_VALUE.search(val):
            continue
        if cat != "DIR" and not (_UPPER_VALUE.fullmatch(val) and _not_stop_words(val)):
            continue
        if cat == "LOC" and not _has_place(val):  # "POBLACION PEDIATRICA" is not a town
            continue
        add(m.start("val"), m.start("val") + len(val), cat, 0)
    for m in _FORM_NAME_LINE.finditer(text):
        val = m.group("val")
        if _UPPER_VALUE.fullmatch(val) and _not_stop_words(val) and _has_name_word(val):
            add(m.start("val"), m.end("val"), "NAME", 1)


# a day before another day of a month ("los días 1 y 2 de marzo", "3, 4 y 5 de mayo"): a date too
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_DAY_BEFORE_DATE = re.compile(
    rf"(?i)(?<![\w.,/-]){_DAY}(?=(?:[ \t]*,[ \t]*|[ \t]+(?:y|e|o|u|al|a)[ \t]+){_DAY}\b(?:(?:[ \t]*,[ \t]*|[ \t]+(?:y|e|o|u|al|a)[ \t]+)"
    rf"{_DAY}\b)*[ \t]+de[ \t]+{_MONF}\b)")


def _dates(text: str, add: _Add) -> None:
    """Dates in their written forms, and day/month pairs written with spaces when they are a valid day."""
    for m in _DATE.finditer(text):
        add(m.start(), m.end(), "FECHA", 1)
    for m in _DAY_BEFORE_DATE.finditer(text):
        add(m.start(), m.end(), "FECHA", 1, "FECHAS")
    for m in _DATE_SPACED.finditer(text):
        d, mo = (m.group("d"), m.group("m")) if m.group("d") else (m.group("d2"), m.group("m2"))
        if 1 <= int(d) <= 31 and 1 <= int(mo) <= 12:
            add(m.start(), m.end(), "FECHA", 1)


def _numbers(text: str, add: _Add) -> None:
    """Telephone, fax, identifier patterns and record numbers after their label."""
    for a, b in _emails(text):
        add(a, b, "NUM", 3, "CORREO_ELECTRONICO")
    for rx, cat, typ in _NUM[1:]:
        for m in rx.finditer(text):
            add(m.start(), m.end(), cat, 3, typ)
    for m in _SPACED_PAIR.finditer(text):  # no count or decimal after an id's or a phone's key ("NHC 890 810 leucocitos")
        if _ID_KEY_BEFORE.search(text, max(0, m.start() - 30), m.start()):
            add(m.start(), m.end(), "NUM", 3, "")
    for m in _RECORD_NUM.finditer(text):
        add(m.start("n"), m.end("n"), "NUM", 1, "ID_SUJETO_ASISTENCIA")
        n = _CAPS_INVERTED_NAME.match(text, m.end("n"))
        if n is not None:  # "NHC 12345678 TEIXIDOR QUISPE, ULPIANO": the patient's name after the record number
            add(n.start("n"), n.end("n"), "NAME", 0, "NOMBRE_SUJETO_ASISTENCIA")


def _signatures(text: str, add: _Add) -> None:
    """Lower-case names after a signature word."""
    for m in _SIGNED_LOWER.finditer(text):
        add(m.start("n"), m.end("n"), "NAME", 1)


def _addresses(text: str, add: _Add) -> None:
    """Postal codes (an identifier when a label precedes them), the town after a code, streets and roads."""
    for m in _ZIP_CTX.finditer(text):
        g = "z" if m.group("z") else "z2"
        # after an identifier label ("SIP 23456") the number is that identifier
        is_id = g == "z2" and _NUM_LABEL_BEFORE.search(text, max(0, m.start() - 24), m.start())
        add(m.start(g), m.end(g), "NUM" if is_id else "DIR", 2)
    for m in _ADDRESS_ZIP.finditer(text):
        if m.start() and not _ZIP_CONTEXT_BEFORE.search(text, max(0, m.start() - 4), m.start()):
            continue
        if _NUM_LABEL_BEFORE.search(text, max(0, m.start() - 24), m.start()):
            add(m.start("z"), m.end("z"), "NUM", 2)
            continue
        add(m.start("z"), m.end("z"), "DIR", 2)
        add(m.start("t"), m.end("t"), "LOC", 3)
    pos = 0
    lower_text = _lower_cased(text)
    while (m := _STREET.search(text, pos)) is not None:
        pos = m.end()
        # "Sr. Camino García del Río" is a person named Camino: look again after that word
        if _TITLE_BEFORE.search(text, max(0, m.start() - 12), m.start()):
            pos = m.start() + 1
            continue
        named = _NAMED_STREET.match(m.group()) or (lower_text and _LOWER_NAMED_STREET.match(m.group()))
        if named and not _WILLIS.match(m.group()) and not _LUMBAR_PUNCTURE.match(m.group()):
            add(m.start(), m.end(), "DIR", 2)
    for m in _ROAD_KM.finditer(text):
        add(m.start(), m.end(), "DIR", 1, "CALLE")
    for rx in (_TITLED_STREET, _TITLED_STREET_LOWER):
        for m in rx.finditer(text):
            if not _INST_WORD_BEFORE.search(text, max(0, m.start() - 30), m.start()):  # "Hospital Doctor Peset"
                add(m.start(), m.end(), "DIR", 1, "CALLE")
    for m in _INTERIOR_STREET.finditer(text):
        add(m.start(), m.end(), "DIR", 1, "CALLE")


# a hospital's name in lower-cased text (BIMCV's form): "hospital" and up to seven words before punctuation, trimmed
# by :func:`_lower_hospitals` ("realizada en el hospital la fe en el 2019": "hospital la fe")
_LOWER_HOSPITAL = re.compile(r"(?<![\w])(?:hospital|complejo hospitalario|complexo hospitalario)"
                             r"(?P<n>(?:[ \t]+[a-zñáéíóúüç'’-]+){1,7})")
# words a hospital's name starts with in lower-cased text, besides a known name or place
_HOSPITAL_NAME_START = frozenset(
    "universitario universitari universitaria general clinico clinic regional central infantil materno virgen nuestra "
    "ntra san santa sant sta santo reina infanta principe doctor dr militar naval "
    "fe".split())  # "hospital la fe" (Valencia, where BIMCV's reports come from; a real report names it)
# words no hospital's name has: they go on with the sentence, or start an address or a department
_HOSPITAL_NAME_END = frozenset(
    "en con por para que se desde donde hasta al tras y e o a hace durante sin como ya no le lo es fue ha siendo "
    "mediante su sus un una otro otra este esta ese esa servicio unidad seccion departamento calle c avda av avenida "
    "paseo po pso plaza ctra carretera ronda glorieta avinguda passeig rambla travesia urbanizacion dia e-mail email "
    "correo tel telf tfno tlf fax "
    "referencia origen procedencia".split())
# generic words: a name made of these alone names no one hospital ("hospital comarcal")
_HOSPITAL_GENERIC = frozenset("universitario universitari general clinico regional central comarcal provincial local "
                              "infantil materno de del la el los las".split())


def _lower_hospitals(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """``spans`` with the hospitals named in lower-cased text that no span touches.

    "hospital" and the words after it, up to punctuation or a word no name has (:data:`_HOSPITAL_NAME_END`); the
    first word past the particles must start a name (:data:`_HOSPITAL_NAME_START`, or a name or place of the
    gazetteers), and not every word may be generic ("hospital comarcal"). Added after the combination, not as
    a rule's candidate: where the tagger or a rule already read the words their boundaries are kept (as
    candidates these spans ran past the annotated names and cost precision on ``choice``); only a name nothing
    else saw is added ("realizada en el hospital la fe en el ...").
    """
    if not _lower_cased(text):
        return spans
    extra = []
    for m in _LOWER_HOSPITAL.finditer(text):
        keep = []
        for w in re.finditer(r"\S+", m.group("n")):
            k = gz.key(w.group())
            if k in _HOSPITAL_NAME_END:
                break
            keep.append((w, k))
        head = next((k for _, k in keep if k not in ("de", "del", "la", "el", "los", "las")), None)
        if head is None or all(k in _HOSPITAL_GENERIC for _, k in keep) or not (
                head in _HOSPITAL_NAME_START or head in gz.first_names() or head in gz.last_names()
                or head in gz.places()):
            continue
        a, b = m.start(), m.start("n") + keep[-1][0].end()
        if not any(x < b and a < y for x, y, _ in spans):
            extra.append((a, b, "HOSPITAL"))
    return sorted(spans + extra) if extra else spans


def _institutions(text: str, add: _Add) -> None:
    """Hospitals, centres and organisations (not a day hospital or a kind of clinic), then bare street words."""
    for m in _INST.finditer(text):
        if not re.match(r"Hospital de D[ií]a\b|Cl[ií]nica Estructurada|Centro (?:de )?(?:Salud Mental|Quir)", m.group()):
            add(m.start(), m.end(), "INST", 2)
    for m in _ORGS.finditer(text):
        add(m.start(), m.end(), "INST", 3)
    for m in _BARE_STREET.finditer(text):
        if _ADDRESS_KEY_BEFORE.search(text, max(0, m.start() - 40), m.start()) or (
                not _MEASURE_NOT_STREET.search(m.group()) and not _DECIMAL_AFTER.match(text, m.end())):
            add(m.start(), m.end(), "DIR", 5)


def _titled_names(text: str, add: _Add) -> None:
    """Names after a title ("Dr.", "Dra.", "Sr."), in capitals or lower case (not a particle)."""
    for m in _TITLE.finditer(text):
        add(m.start("n"), m.end("n"), "NAME", 2, "NOMBRE_PERSONAL_SANITARIO")
    for m in _TITLE_LOWER.finditer(text):
        n = m.group("n").split()
        if n and n[0] not in ("de", "la", "del", "el", "y", "que", "en"):
            add(m.start("n"), m.end("n"), "NAME", 2, "NOMBRE_PERSONAL_SANITARIO")


def _gazetteer_spans(text: str, add: _Add) -> None:
    """Runs of known names and places (the gazetteers), places after a trigger word."""
    for a, b in _name_spans(text):
        add(a, b, "NAME", 4)
    for a, b in _place_spans(text):
        add(a, b, "LOC", 4)
    for a, b in _place_chain_spans(text):
        add(a, b, "LOC", 4, "PAIS" if gz.key(text[a:b]) in gz.countries() else "TERRITORIO")
    for m in _TRIGGER_LOC.finditer(text):
        add(m.start("p"), m.end("p"), "LOC", 3)


def _more_names(text: str, add: _Add) -> None:
    """Titles in any case, lower-case names after a person header, initials after a person word."""
    for m in _TITLE_ANYCASE.finditer(text):
        add(m.start("n"), m.end("n"), "NAME", 2, "NOMBRE_PERSONAL_SANITARIO")
    for a, b in _lower_header_names(text):
        add(a, b, "NAME", 1)
    for m in _INITIALS.finditer(text):
        letters = re.sub(r"[^\w]", "", m.group()).lower()
        if letters not in _NOT_INITIALS and _PERSON_BEFORE.search(text, max(0, m.start() - 30), m.start()):
            add(m.start(), m.end(), "NAME", 3)


def _contacts_and_codes(text: str, add: _Add) -> None:
    """E-mail addresses written to dodge filters, IP addresses, and codes with five or more digits (not sizes)."""
    for m in _OBFUSCATED_EMAIL.finditer(text):
        add(m.start(), m.end(), "NUM", 1, "CORREO_ELECTRONICO")
    for m in _IP.finditer(text):
        add(m.start(), m.end(), "NUM", 1, "DIREC_PROT_INTERNET")
    for m in _CODE.finditer(text):
        g = m.group()
        if sum(c.isdigit() for c in g) >= 5 and not _DIMENSIONS.fullmatch(g):
            add(m.start(), m.end(), "NUM", 2, "ID_CONTACTO_ASISTENCIAL")


_AGE_UNIT = r"(?:a[ñn]os?|mes(?:es)?|d[ií]as?|semanas?)"
_AGE_NUMBER = (r"(?:\d{1,3}|un|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|primer|segundo|tercer|"
               r"cuarto|quinto|sexto|s[eé]ptimo|octavo|noveno|d[eé]cimo)")
# an age in the words MEDDOCAN's annotators mark as one (on its train split: "N años de edad" is the age "N años"
# 147 times of 160; "ocho meses de vida" 2 of 8 as written, the others' age is the number and the unit too)
_AGE_PHRASE = re.compile(
    rf"(?i)\b(\d{{1,3}}[ \t]+{_AGE_UNIT})[ \t]+de[ \t]+edad\b"
    rf"|\bla[ \t]+edad[ \t]+de[ \t]+(\d{{1,3}}[ \t]+{_AGE_UNIT})\b"
    rf"|\b({_AGE_NUMBER}[ \t]+{_AGE_UNIT})[ \t]+de[ \t]+vida\b")


# what the patient is, beyond a name or a number, as MEDDOCAN's annotators mark it (ID_SUJETO_ASISTENCIA on its
# train split: "de origen vietnamita", "de raza caucásica", "mujer caucásica", "Varón de 49 años, peruano",
# "Estaba casada", "hábito homosexual"): an origin or a people after "origen", "raza" ..., or right after the
# patient's noun and age; a marital status or a sexual orientation anywhere ("separado" is not: "separado por")
_DEMONYM = (r"(?:cauc[aá]sic|ecuatorian|bolivian|peruan|colombian|venezolan|dominican|cuban|paraguay|uruguay|"
            r"chilen|mexican|hondureñ|salvadoreñ|nicaragüense|guatemaltec|brasileñ|subsaharian|african|nigerian|"
            r"senegal[eé]s|ghanés|marroqu[ií]|magreb[ií]|argelin|egipci|ruman|búlgar|bulgar|ucranian|rus|polac|"
            r"chin|vietnamita|filipin|pakistan[ií]|afgan|hind[uú]|asi[aá]tic|gitan|mestiz|latinoamerican|"
            r"sudamerican|centroamerican|indígena)(?:[oa]s?|es|as)?")
_PEOPLE = re.compile(rf"(?<![\w])(?:de[ \t]+)?(?:origen|ascendencia|procedencia|nacionalidad|etnia)[ \t]+({_DEMONYM})(?![\w])"
                     rf"|(?<![\w])(?:de[ \t]+)?(raza[ \t]+(?:{_DEMONYM}|blanca|negra|cauc[aá]sica|caucasiana|negroide|gitana|asi[aá]tica))(?![\w])"
                     rf"|(?i:var[oó]n|mujer|hombre|paciente|niñ[oa]|chic[oa]|señora?)[ \t]+(?:de[ \t]+\d{{1,3}}[ \t]+años,?[ \t]+)?({_DEMONYM})(?![\w])")
_STATUS = re.compile(r"(?<![\w])(?i:solter[oa]|casad[oa]|viud[oa]|divorciad[oa]|homosexual|heterosexual|bisexual)(?![\w])")


def _patient_descriptors(text: str, add: _Add) -> None:
    """The patient's origin, people, marital status or sexual orientation (ID_SUJETO_ASISTENCIA in MEDDOCAN)."""
    for m in _PEOPLE.finditer(text):
        g = next(i for i in (1, 2, 3) if m.group(i))
        add(m.start(g), m.end(g), "NUM", 3, "ID_SUJETO_ASISTENCIA")
    for m in _STATUS.finditer(text):
        if m.group()[:1].isupper() and text[m.end():m.end() + 2][:1] == " " and text[m.end() + 1:m.end() + 2].isupper():
            continue  # a surname ("Dr. Juan Casado López")
        add(m.start(), m.end(), "NUM", 3, "ID_SUJETO_ASISTENCIA")


def _relatives_and_ages(text: str, add: _Add) -> None:
    """Relatives of the patient and ages past 89 (HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(C), treats those as identifying)."""
    for m in _RELATIVE.finditer(text):
        if not _STREET_WORD_BEFORE.search(text, max(0, m.start() - 16), m.start()):  # "calle hermanos falco, 37"
            add(m.start(), m.end(), "OTROS", 5, "FAMILIARES_SUJETO_ASISTENCIA")
    for m in _OLD_AGE.finditer(text):
        add(m.start(), m.end(), "EDAD", 1, "EDAD_SUJETO_ASISTENCIA")
    for m in _AGE_PHRASE.finditer(text):  # sure of nothing: the tagger's reading of the same words wins
        g = next(i for i in (1, 2, 3) if m.group(i))
        add(m.start(g), m.end(g), "EDAD", 5)


#: the rules of :func:`_rule_spans`, in the order they add candidates
_RULES: tuple[Callable[[str, _Add], None], ...] = (
    _header_values, _form_fields, _dates, _numbers, _signatures, _addresses, _institutions, _titled_names,
    _gazetteer_spans, _more_names, _contacts_and_codes, _relatives_and_ages, _patient_descriptors)



def _lower_header_names(text: str) -> list[tuple[int, int]]:
    """Names after a person header in lower-cased text: the leading words that are known given names or
    surnames (or a particle between two of them); the first must be one and not a common word."""
    first, last = gz.first_names(), gz.last_names()
    # a text with capitalized words; a lower-cased report with capital acronyms ("PCR", "COVID-19") is no such text
    cased = not _lower_cased(text)
    out = []

    def known(w: re.Match, stop: frozenset) -> bool:  # a known name word, none of ``stop``
        parts = [p for p in gz.key(w.group()).strip("'’-").split("-") if p]
        return bool(parts) and all(p in first or p in last for p in parts) and not any(
            p in _ALWAYS_STOP or p in stop for p in parts)

    for m in _LOWER_NAME_HEADER.finditer(text):
        words = list(re.finditer(r"[^\s]+", m.group("n")))
        colon = ":" in text[m.start():m.start("n")]
        if cased and text.startswith("paciente", m.start()) and not colon \
                and gz.key(words[0].group()) not in first:
            # in a text with capitals, "el paciente fuente" is prose: without a colon a lower-case name
            # after the word must start with a given name ("paciente maria garcia")
            continue
        # "el paciente fuente, ..." is prose; "paciente: fuente munoz" and "paciente fuente ortega" are names
        prose = not colon and not (len(words) > 1 and known(words[1], _LOWER_NOT_NAME))
        keep = 0
        for i, w in enumerate(words):
            if known(w, (_LOWER_NOT_FIRST_IN_PROSE if prose else _LOWER_NOT_FIRST) if i == 0
                     else _LOWER_NOT_NAME):
                keep = i + 1
            elif gz.key(w.group()) in ("de", "del", "la", "las", "los", "y", "i") and i and keep == i:
                continue
            else:
                break
        if keep and _PATIENT_FIELD.match(m.group()):
            # a patient's name field ("paciente: xiomara quisbert mamani"): surnames the gazetteers do not know
            # (foreign, indigenous, rare) are still the patient's: the value runs on over words that are no
            # common or clinical word, up to four words in all (the value ends at punctuation or the line's end)
            while keep < min(len(words), 4):
                k = gz.key(words[keep].group()).strip("'’-")
                if len(k) < 2 or k in _ALWAYS_STOP or k in _LOWER_NOT_NAME or k in _LOWER_NOT_VALUE:
                    break
                keep += 1
        if not keep and _STAFF_FIELD.match(m.group()) and 0 < len(words) <= 3 \
                and _LINE_END_AFTER.match(text, m.end()) and all(_lower_value_word(w.group()) for w in words) \
                and not any(_NOT_A_NAME_VALUE.search(w.group()) for w in words):
            # a name field's whole value on its line is the person's name, known or not ("medico: naveenjayakumar.")
            keep = len(words)
        if keep:
            a = m.start("n")
            out.append((a + words[0].start(), a + words[keep - 1].end()))
    return out


# a person's name field in lower-cased text (a doctor's, or the name and surnames): the header key and its colon
_STAFF_FIELD = re.compile(r"(?:m[eé]dic[oa](?: solicitante| responsable| remitente| peticionario)?|radi[oó]log[oa]|"
                          r"facultativo|nombre(?: y apellidos)?|apellidos?)[ \t]*:")
# the end of a field's line: punctuation at most
_LINE_END_AFTER = re.compile(r"[ \t.,;]*(?:\n|$)")


def _lower_value_word(word: str) -> bool:
    """Whether a lower-case word may be a name a field's value holds: no common, clinical or form word."""
    k = gz.key(word).strip("'’-")
    return len(k) >= 3 and k.isalpha() and k not in _ALWAYS_STOP and k not in _LOWER_NOT_NAME \
        and k not in _LOWER_NOT_VALUE and k not in _FORM_WORDS and not _NOT_PERSON.search(k)


# a patient's name field in lower-cased text: the header key and its colon
_PATIENT_FIELD = re.compile(r"(?:paciente|nombre(?: y apellidos| del paciente)?|apellidos?)[ \t]*:")
# words that end a patient name field's value in lower-cased text, beside the stop lists
_LOWER_NOT_VALUE = frozenset(
    "anos edad meses dias sexo varon mujer nacido nacida natural fecha historia nhc sip dni cip edad refiere presenta "
    "acude ingresa consulta remitido remitida derivado derivada servicio motivo diagnostico informe".split())


def _category(m: re.Match, keys, prefix: str) -> str:
    """The category of the key alternative (named ``prefix`` + index) that matched."""
    return next(c for i, (_, c) in enumerate(keys) if m.group(f"{prefix}{i}"))


def _has_name_word(value: str) -> bool:
    """Whether a known given name or surname is among the words of ``value``."""
    first, last = gz.first_names(), gz.last_names()
    return any(gz.key(w) in first or gz.key(w) in last for w in re.findall(r"[^\W\d_][\w'’-]*", value))


# words of the stop lists that may still start a name after a header key: particles, street-word surnames
_NAME_STARTS = frozenset({"de", "del", "la", "las", "los", "calle", "plaza", "paseo", "camino", "ronda"})
# departments and teams, which referral headers name as often as people
_NOT_PERSON = re.compile(r"(?i)\b(?:\w+log[ií]a|\w+graf[ií]a|servicio|unidad|equipo|departamento|secci[oó]n|urgencias|"
                         r"planta|consultas?|enfermer[ií]a|medicina|cirug[ií]a|pediatr[ií]a|radiodiagn[oó]stico|atenci[oó]n)\b")


def _looks_like_person(value: str, titled: bool) -> bool:
    """A referral header's value is a person: after a title, with a known name, or two or more words before any
    department it goes on to ("Urkiola Etxeberria, Unidad de Cardiología")."""
    if titled or _has_name_word(value):
        return True
    dept = _NOT_PERSON.search(value)
    person = value[:dept.start()] if dept else value
    return len(re.findall(rf"{_CAP}", person)) >= 2


def _has_place(value: str) -> bool:
    """Whether ``value`` names a known place or country."""
    places, countries = gz.places(), gz.countries()
    k = gz.key(value.strip(" .,"))
    return k in places or k in countries or any(gz.key(w) in places for w in value.split())


def _not_stop_words(value: str) -> bool:
    """Whether no word of ``value`` is one that never names a person or place (``SERVICIO``, ``TORAX``)."""
    return not any(gz.key(w) in _ALWAYS_STOP and gz.key(w) not in _NAME_STARTS
                   for w in re.findall(r"[^\W\d_][\w'’-]*", value))


def _resolve(text: str, cands: list[tuple[int, int, str, int, str]]) -> list[tuple[int, int, str, str, int]]:
    """Non-overlapping spans ``(start, end, category, type, priority)`` from the candidates: header values
    first, then longer, then by rule priority.

    The spans taken so far are kept sorted and disjoint, so the ones a candidate meets are found by bisection.
    """
    cands.sort(key=lambda c: (c[3] if c[3] == 0 else 1, -(c[1] - c[0]), c[3], c[0]))
    starts: list[int] = []
    taken: list[tuple[int, int, str, str, int]] = []  # sorted by start; ends are sorted too (disjoint)
    ends: list[int] = []
    for a, b, cat, prio, typ in cands:
        i = bisect.bisect_right(ends, a)
        clash = []
        while i < len(taken) and taken[i][0] < b:
            clash.append(taken[i])
            i += 1
        if clash:
            first = clash[0][0]
            if first > a:
                # a candidate that runs into a stronger one keeps what comes before it ("Miguel Ángel López Aramburu
                # Av" before the address "Av. Camino San Juan ...", "Hospital Miguel Servet Pso" before "Pso. ...")
                b = first
            elif len(clash) == 1 and clash[0][1] < b and (clash[0][2] == cat or cat != "NAME") \
                    and "\n" not in text[clash[0][1]:b]:
                # what runs on past a stronger span keeps its tail: a longer reading of the same name ("Roberto
                # Gallego" from a header whose value stopped at a double space, then "  Pinazo"), an address whose
                # first word a name took ("... de Córdoba Paseo" + "Paseo Plaza de España 1"), the rest of a date
                # ("12" + "/03/2020"); a piece of a name is not kept after another category took its start
                a = clash[0][1]
            else:
                continue
            while b > a and not text[b - 1].isalnum():
                b -= 1
            while a < b and not text[a].isalnum():
                a += 1
            if sum(ch.isalnum() for ch in text[a:b]) < 3:
                continue
        j = bisect.bisect_left(starts, a)
        starts.insert(j, a)
        ends.insert(j, b)
        taken.insert(j, (a, b, cat, typ, prio))
    return taken


# ---------------------------------------------------------------- surrogates
class Surrogates:
    """Consistent surrogates for one patient.

    Parameters
    ----------
    patient_key : str
        Any stable per-patient string (e.g. the bank's subject id).  The same
        original maps to the same surrogate for the same key; the mapping is a
        keyed hash, never stored.
    date_shift_days : int, optional
        Shift applied to every date that can be parsed (the patient's ingest
        date shift); dates are replaced by ``[FECHA]`` when no shift is known.
    """

    def __init__(self, patient_key: str = "", date_shift_days: int | None = None):
        self._key = str(patient_key).encode()
        self.date_shift_days = date_shift_days

    def _h(self, s: str) -> int:
        return int.from_bytes(hashlib.blake2b(gz.key(s).encode(), key=self._key[:64] or b"-", digest_size=8).digest(), "big")

    def _pick(self, pool: tuple[str, ...], s: str) -> str:
        return pool[self._h(s) % len(pool)]

    def replace(self, original: str, category: str, type: str = "") -> str:
        """Surrogate for one span of ``category`` (coarse; ``type``, the PHI type, refines it)."""
        firsts, lasts, cities = gz.surrogate_pool()
        if category == "NAME":
            words = original.split()
            out = []
            for i, w in enumerate(words):
                if gz.key(w) in ("de", "del", "la", "y", "las", "los"):
                    out.append(w)
                    continue
                pool = firsts if (i == 0 and gz.key(w) in gz.first_names()) else lasts
                r = self._pick(pool, w)
                out.append(r.upper() if w.isupper() and len(w) > 1 else r.lower() if w.islower() else r)
            return " ".join(out)
        if category == "LOC":
            r = self._pick(cities, original)
            return r.lower() if original.islower() else r
        if category == "DIR":
            if _ZIP.fullmatch(original):
                return f"{28000 + self._h(original) % 1000:05d}"
            r = f"Calle {self._pick(lasts, original)}, {1 + self._h(original + '#') % 99}"
            return r.lower() if original.islower() else r
        if category == "INST":
            r = f"Hospital {self._pick(cities, original)}"
            return r.lower() if original.islower() else r
        if type == "URL_WEB":
            return f"www.{self._pick(lasts, original).lower()}.example"
        if type == "DIREC_PROT_INTERNET":
            h = self._h(original)
            return f"10.{h % 256}.{(h >> 8) % 256}.{(h >> 16) % 256}"
        if category == "NUM":
            h = self._h(original)
            digits = itertools.cycle(str(h).zfill(20))  # any length: a 61-digit number must not end the run
            return "".join(next(digits) if c.isdigit() else ("x" if c.isalpha() and c != "@" else c) for c in original)
        if category == "FECHA":
            shifted = shift_date(original, self.date_shift_days) if self.date_shift_days is not None else None
            return shifted if shifted is not None else "[FECHA]"
        return f"[{category}]"


_NUMERIC_DATE = re.compile(r"^(\d{1,2})(\s?[/.\- ]\s?)(\d{1,2})(\s?[/.\- ]\s?)(\d{4}|\d{2})$")
_TEXT_DATE = re.compile(rf"^(\d{{1,2}})(\s+de\s+|\s+)({_MONF})((?:\s+de\s+|\s+)(\d{{4}}))?$", _I)
_MONTH_YEAR = re.compile(rf"^({_MONF})(\s+de\s+|\s+)(\d{{4}})$", _I)


def shift_date(text: str, days: int) -> str | None:
    """Shift a Spanish date by ``days``, keeping its written form; ``None`` if it cannot be parsed."""
    s = text.strip()
    try:
        m = _NUMERIC_DATE.match(s)
        if m:
            d, mo, y = int(m.group(1)), int(m.group(3)), m.group(5)
            year = int(y) if len(y) == 4 else 2000 + int(y) if int(y) < 50 else 1900 + int(y)
            nd = _dt.date(year, mo, d) + _dt.timedelta(days=days)
            ys = f"{nd.year}" if len(y) == 4 else f"{nd.year % 100:02d}"
            return f"{nd.day:0{len(m.group(1))}d}{m.group(2)}{nd.month:0{len(m.group(3))}d}{m.group(4)}{ys}"
        m = _TEXT_DATE.match(s)
        if m and m.group(5):
            mo = MONTHS.index(m.group(3).lower()) + 1
            mo = mo if mo <= 9 else mo - 1 if m.group(3).lower() != "setiembre" else 9
            nd = _dt.date(int(m.group(5)), _month_num(m.group(3)), int(m.group(1))) + _dt.timedelta(days=days)
            return f"{nd.day}{m.group(2)}{_month_name(nd.month, m.group(3))}{m.group(4).replace(m.group(5), str(nd.year))}"
        m = _MONTH_YEAR.match(s)
        if m:
            nd = _dt.date(int(m.group(3)), _month_num(m.group(1)), 15) + _dt.timedelta(days=days)
            return f"{_month_name(nd.month, m.group(1))}{m.group(2)}{nd.year}"
    except (ValueError, OverflowError):
        return None
    return None


def _month_num(name: str) -> int:
    n = name.lower()
    return 9 if n == "setiembre" else [m for m in MONTHS if m != "setiembre"].index(n) + 1


def _month_name(num: int, like: str) -> str:
    n = [m for m in MONTHS if m != "setiembre"][num - 1]
    return n.capitalize() if like[:1].isupper() else n


# --------------------------------------------------------------- typing
_TYPE_KEYS: list[tuple[re.Pattern, str]] = [(re.compile(k, _I), t) for k, t in (
    (r"(?:e-?mail|correo)[\w ]{0,15}\W*$", "CORREO_ELECTRONICO"),
    (r"\bfax\W*$", "NUMERO_FAX"),
    (r"(?:tel[eé]fono|tel|tlf|tfno|m[oó]vil|contacto)\b[\w ]{0,20}\W*$", "NUMERO_TELEFONO"),
    (r"(?:colegiad[oa]|n[ºo°]\s?col|col\.?)\W*$", "ID_TITULACION_PERSONAL_SANITARIO"),
    (r"(?:nass|\bnss|n[ºo°]\s?ss|seguridad social|tarjeta sanitaria|tis|cip|sip|aseguradora|p[oó]liza|mutua)\W*$",
     "ID_ASEGURAMIENTO"),
    (r"(?:episodio|petici[oó]n|exploraci[oó]n|estudio|informe|acceso|accession|ingreso|anexo|informe original|cita)"
     r"\W*(?:n[ºo°]|n[uú]m(?:ero)?)?\W*$", "ID_CONTACTO_ASISTENCIAL"),
    (r"(?:empleado|personal|firmado(?: por)?)\W*$", "ID_EMPLEO_PERSONAL_SANITARIO"),
)]
_STAFF_BEFORE = re.compile(r"(?i)(?:\b(?:dr|dra|dres|doctora?|prof|profesora?)\.?|m[eé]dic[oa][\w ]{0,15}:|facultativo\W*|"
                           r"radi[oó]log[oa]\W*|firmado(?: por)?\W*|informado por\W*|supervisado por\W*|remitido por\W*|"
                           r"responsable cl[ií]nico\W*|solicitado por\W*|atendido por\W*|realizado por\W*|fdo\.?)\s*$")


def _fine_type(text: str, span: PhiSpan) -> str:
    """The PHI type of a rule span that did not name one, from its category, form and what comes before it."""
    if span.type:
        return span.type
    a, b = span.start, span.end
    before = text[max(0, a - 40):a]
    val = text[a:b]
    cat = span.category
    if cat == "NAME":
        return "NOMBRE_PERSONAL_SANITARIO" if _STAFF_BEFORE.search(before) else "NOMBRE_SUJETO_ASISTENCIA"
    if cat == "FECHA":
        return "FECHAS"
    if cat == "DIR":
        return "TERRITORIO" if _ZIP.fullmatch(val) else "CALLE"
    if cat == "LOC":
        return "PAIS" if gz.key(val) in gz.countries() else "TERRITORIO"
    if cat == "INST":
        k = gz.key(val)
        if k in _HOSPITAL_ACRONYMS:
            return "HOSPITAL"
        if k.startswith(("centro de salud", "c.s.", "centro de atencion primaria", "ambulatorio")):
            return "CENTRO_SALUD"
        if k.startswith(("hospital", "h.u.", "complejo hospitalario", "complexo hospitalario", "clinica",
                         "policlinica", "sanatorio", "hosp")):
            return "HOSPITAL"
        return "INSTITUCION"
    if cat == "NUM":
        if "@" in val:
            return "CORREO_ELECTRONICO"
        for rx, t in _TYPE_KEYS:
            if rx.search(before):
                return t
        if re.search(r"(?i)\b(?:nhc|n\.h\.c|hc|historia|dni|nif|nie|pasaporte|id)\b\W*$", before) \
                or re.fullmatch(r"\d{8}-?[A-Za-z]|[XYZxyz]-?\d{7}-?[A-Za-z]", val):
            return "ID_SUJETO_ASISTENCIA"
        if re.fullmatch(r"(?:\+\s?34\s?)?[6789]\d{2}(?:[ .-]?\d{2,3}){2,3}", val):
            return "NUMERO_TELEFONO"
        return "ID_SUJETO_ASISTENCIA"
    if cat == "EDAD":
        return "EDAD_SUJETO_ASISTENCIA"
    return "OTRO_NUMERO_IDENTIF"


#: deny-list hit category (:mod:`covidbank.dicom.denylist`) -> PHI type
_DENY_TYPES = {"name": "NOMBRE_SUJETO_ASISTENCIA", "id": "ID_SUJETO_ASISTENCIA", "date": "FECHAS",
               "uid": "OTRO_NUMERO_IDENTIF", "address": "CALLE", "institution": "HOSPITAL", "phone": "NUMERO_TELEFONO"}


def _deny_spans(text: str, extra_terms) -> list[tuple[int, int, str]]:
    """Spans of the patient's own values: ``extra_terms`` is a deny-list (anything with ``find(text)`` returning
    hits with ``start``, ``end``, ``category``) or plain strings (a name, an id: letters only -> name)."""
    if extra_terms is None:
        return []
    if not hasattr(extra_terms, "find"):
        from ..dicom.denylist import DenyList

        dl = DenyList()
        for term in extra_terms:
            t = str(term or "").strip()
            if t:
                dl.add(t, "id" if any(c.isdigit() for c in t) else "name", "extra_terms")
        extra_terms = dl
    return [(h.start, h.end, _DENY_TYPES.get(h.category, "OTRO_NUMERO_IDENTIF")) for h in extra_terms.find(text)]


def _pieces(text: str, a: int, b: int, covered: bytearray, base: int) -> list[tuple[int, int]]:
    """The parts of ``a:b`` not covered yet, trimmed to letters and digits."""
    out = []
    k = a
    while k < b:
        if covered[k - base]:
            k += 1
            continue
        j = k
        while j < b and not covered[j - base]:
            j += 1
        x, y = k, j
        while x < y and not text[x].isalnum():
            x += 1
        while y > x and not text[y - 1].isalnum():
            y -= 1
        if y > x:
            out.append((x, y))
        k = j
    return out


def _combine(text: str, model: list[tuple[int, int, str]], others: list[tuple],
             deny: list[tuple[int, int, str]] = ()) -> list[tuple[int, int, str]]:
    """One set of non-overlapping typed spans from the tagger's, the rules' and the patient's own values.

    Overlapping tagger and rule spans form a group.  The tagger's boundaries are kept (they follow the
    annotation guidelines; on MEDDOCAN dev the rules' longer spans mostly run on into a department or join
    an address to its postcode), and what a rule span covers beyond them is added as spans of their own
    when it holds a digit or a known name or place (a name's surname the tagger cut off, a house number),
    so the union of the two covers the identifier.  Where a rule sure of its type (a person header, a
    title, an e-mail, a road kilometre) sees another category than the tagger, the rules' spans are kept
    and the tagger's extra parts are added instead.  The patient's own values (``deny``) always win: each
    becomes the union with the spans it meets.
    """
    items = sorted([(a, b, t, 0, False) for a, b, t in model]
                   + [(a, b, t, 1, o[3] if len(o) > 3 else 0) for o in others for a, b, t in [o[:3]]])
    out: list[tuple[int, int, str]] = []
    pieces: set[tuple[int, int]] = set()
    for group, end in _overlap_groups(items):
        ms = [g for g in group if g[3] == 0]
        rs = [g for g in group if g[3] == 1]
        if not ms or not rs:
            out.extend((a, b, t) for a, b, t, *_ in group)
            continue
        rules_win = _rules_win(text, ms, rs)
        keep, rest = (rs, ms) if rules_win else (ms, rs)
        base = group[0][0]
        covered = bytearray(end - base)
        for a, b, t, *_ in keep:
            if not rules_win:  # a rule sure of the type of the same thing names it (a patient's or a doctor's name)
                t = next((r[2] for r in rs if r[4] and r[0] < b and a < r[1]
                          and _coarse_of(text, *r[:3]) == _coarse_of(text, a, b, t)), t)
            out.append((a, b, t))
            covered[a - base:b - base] = b"\x01" * (b - a)
        for a, b, t, _, sure in rest:
            for x, y in _pieces(text, a, b, covered, base):
                piece = text[x:y]
                if rules_win:  # the tagger's extra parts, but not a lower-case word it joined between two spans
                    if piece.islower() and x > a and y < b:
                        continue
                elif not (_evidence(piece, t) or (sure and COARSE.get(t) == "NAME" and _person_piece(piece))
                          or _continues_a_name(text, x, y, keep)):
                    continue
                out.append((x, y, t))
                pieces.add((x, y))
                covered[x - base:y - base] = b"\x01" * (y - x)
    out = _given_names_after(text, _boundary_fixes(text, _join_pieces(text, sorted(out), pieces)))
    if deny:
        out = _union_with(out, deny)
    return out


# ", " and up to three words after a span: the given names of a name written surnames first
_AFTER_COMMA = re.compile(r"[ \t]*,[ \t]*(?:\r?\n[ \t]*)?([^\W\d_]+(?:\.?[ \t]+[^\W\d_]+){0,3})")
# abbreviated given names of the hospital form ("GARCIA LOPEZ, Mª JOSE", "MA. JOSE", "FCO. JAVIER")
_GIVEN_ABBREVIATIONS = frozenset(("m", "ma", "mª", "fco", "jm", "mj"))
_AFTER_ABBREVIATION = re.compile(r"[ªº]?\.?[ \t]+([^\W\d_]+)")
# words that are no person's name where a field's value or a name's given names go: a department or specialty
# ("Dr. Pérez Gómez, Radiodiagnóstico", "NEUMOLOGIA") or a placeholder ("radiologo: pendiente", "desconocido")
_NOT_A_NAME_VALUE = re.compile(r"(?i)log[ií]a\b|iatr[ií]a\b|diagn[oó]stico|cirug[ií]a|urgencia|medicina|interna\b|"
                               r"enfermer|servicio|unidad|planta|consulta|hospital|cl[ií]nica|radiolog|pendiente|"
                               r"desconocid")
# where a line's value ends: the given names of "TEIXIDOR QUISPE, ULPIANO" end the line or its sentence
_VALUE_END = re.compile(r"[ \t]*(?:[.;]?[ \t]*(?:\r?\n|$))")
_NAME_JOINERS = frozenset(("de", "del", "la", "los", "las", "y"))


def _given_names_after(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sorted non-overlapping spans with the given names of a name written surnames first added: the hospital
    form "GARCIA LOPEZ, MARIA" / "garcia lopez, maria" / "Martínez Ruiz, José Antonio".

    A span that is a person's name, or whose last word is a known surname (an id header running on into the
    name, "NHC 12345678 GARCIA LOPEZ"; a lower-cased name the tagger took for a place), followed by a comma and
    known given names (joined by "de", "del", "la", "y") is followed by a span of those given names: the type of
    the span when it is a name, else the patient's name (a place made only of known surnames becomes one too).
    After a name, words no gazetteer knows are its given names too when they end the line or its sentence, are
    written in the name's case, all upper or all lower (a capitalized word there is more often a department:
    "Dr. Pérez Gómez, Radiodiagnóstico"), and are no stop, clinical or department words (``_NOT_A_NAME_VALUE``; "TEIXIDOR QUISPE, ULPIANO").
    Written by hand: no library knows this form; the gazetteers are :mod:`covidbank.nlp.gazetteers`.
    """
    first, last = gz.first_names(), gz.last_names()
    spans = list(spans)
    out: list[tuple[int, int, str]] = []
    for i, (a, b, t) in enumerate(spans):
        words = re.findall(r"[^\W\d_]+", text[a:b])
        if words and t.startswith("NOMBRE_") and gz.key(words[-1]) in _GIVEN_ABBREVIATIONS:
            ab = _AFTER_ABBREVIATION.match(text, b)  # "GARCIA LOPEZ, M" + "ª JOSE": the name goes on
            if ab is not None and gz.key(ab.group(1)) in first \
                    and (i + 1 == len(spans) or spans[i + 1][0] >= ab.end(1)):
                b = ab.end(1)
        m = _AFTER_COMMA.match(text, b)
        if m is None or not words:
            out.append((a, b, t))
            continue
        is_name = t.startswith("NOMBRE_")
        if not is_name and gz.key(words[-1]) not in last:
            out.append((a, b, t))
            continue
        end, pos = None, m.start(1)
        for w in re.finditer(r"[^\W\d_]+", m.group(1)):
            k = gz.key(w.group())
            if k in first or (k in _GIVEN_ABBREVIATIONS and w.start() == 0):
                end = m.start(1) + w.end()
            elif k not in _NAME_JOINERS or end is None:
                break
        if end is None and is_name and _VALUE_END.match(text, m.end(1)) and _same_case(text[a:b], m.group(1)) \
                and (m.group(1).isupper() or m.group(1).islower()) and not _NOT_A_NAME_VALUE.search(m.group(1)) \
                and _person_piece(m.group(1)) and _not_stop_words(m.group(1)) and not _is_clinical_phrase(m.group(1)):
            end = m.end(1)  # given names no gazetteer knows, ending the line after a name's surnames
        nxt = spans[i + 1][0] if i + 1 < len(spans) else len(text)
        if end is None or pos >= nxt:  # no given name, or already a span of its own (of this name's person)
            if end is not None and is_name and pos == nxt and spans[i + 1][1] <= end \
                    and spans[i + 1][2].startswith("NOMBRE_"):
                spans[i + 1] = (*spans[i + 1][:2], t)
            out.append((a, b, t))
            continue
        end = pos + len(text[pos:min(end, nxt)].rstrip())
        if not is_name and t in ("TERRITORIO", "CALLE", "INSTITUCION", "") and all(gz.key(w) in last for w in words):
            t = "NOMBRE_SUJETO_ASISTENCIA"  # "garcia lopez, maria": surnames, not a place
        out.append((a, b, t))
        out.append((pos, end, t if t.startswith("NOMBRE_") else "NOMBRE_SUJETO_ASISTENCIA"))
    return out


def _same_case(a: str, b: str) -> bool:
    """Whether two runs of words are written alike: both upper case, both lower case, or each word capitalized."""
    if a.isupper() or b.isupper():
        return a.isupper() and b.isupper()
    if a.islower() or b.islower():
        return a.islower() and b.islower()
    return all(w[:1].isupper() for w in re.findall(r"[^\W\d_]+", a + " " + b) if gz.key(w) not in _NAME_JOINERS)


# a street word at the end of an institution's span starts the address after it ("Hospital de Getafe Carretera
# Toledo", "Universidad de Málaga Boulevard Louis Pasteur, 32"), or one right before a street's span is its own
_STREET_WORD_END = re.compile(rf"(?<![ \t]de)(?<![ \t]del)(?<![ \t]la)[ \t]+(?:{_STREET_TYPES}|[Bb]oulevard)$")
# a number label glued to the end of a name: "MartínezNºCol", lower-cased "martineznocol" (never "moreno collado")
_GLUED_NUMBER_LABEL = re.compile(r"(?<=[a-záéíóúñ])(?:N[º°](?:[ \t]?Col\w*)?|n[º°o]col(?:egiado)?|Correo|E-?mail|Tel[eé]fono|Tfno|Tlf)$")
_ADDRESS_DETAIL_RX = re.compile(_ADDRESS_DETAIL)
_STREET_WORD_BEFORE = re.compile(rf"(?<![\w/.])(?i:{_STREET_TYPES}|boulevard)[ \t]+$")


def _boundary_fixes(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Sorted non-overlapping spans with a street word moved from the end of an institution's span to the span
    that follows it (typed ``CALLE``), a street word right before a street's span and the floor, door or interior
    right after it ("Calle Sol 12 interior 4", "C/ Mayor 2 3ºC") put into it, and a person's name
    cut before a number label glued to it ("Marta Ortega MartínezNºCol: 28 28 20943")."""
    out = list(spans)
    for i, (a, b, t) in enumerate(out):
        if t.startswith("NOMBRE_"):
            m = _GLUED_NUMBER_LABEL.search(text[a:b])
            if m is not None and m.start() > 0:
                out[i] = (a, a + m.start(), t)
        elif COARSE.get(t) == "INST":
            m = _STREET_WORD_END.search(text, a, b)
            if m is not None and m.start() > a and i + 1 < len(out):
                x, y, _ = out[i + 1]
                if not text[b:x].strip(" \t"):
                    out[i] = (a, m.start(), t)
                    out[i + 1] = (m.start() + len(m.group()) - len(m.group().lstrip(" \t")), y, "CALLE")
        elif t in ("NUMERO_TELEFONO", "NUMERO_FAX") and text[a] == "+":
            # the plus of an international prefix is not the number's (MEDDOCAN: "FAX: + 34- 963864175" -> "34- ...")
            x = a
            while x < b and text[x] in "+ \t":
                x += 1
            if x < b:
                out[i] = (x, b, t)
        elif t == "CALLE":
            lo = out[i - 1][1] if i else 0
            m = _STREET_WORD_BEFORE.search(text, max(lo, a - 16), a)
            if m is not None:
                a = m.start()
            # the floor, door or interior after the house number is the address's ("737 interior 35", "2 3ºC")
            hi = out[i + 1][0] if i + 1 < len(out) else len(text)
            m = _ADDRESS_DETAIL_RX.match(text, b, hi)
            if m is not None and m.end() > b and text[b:m.end()].strip(" \t,"):
                b = m.end()
            out[i] = (a, b, t)
    out = _split_postcodes(text, out)
    for i, (a, b, t) in enumerate(out):
        if t == "HOSPITAL":  # "Complejo Hospitalario" before a hospital's name is the hospital's
            lo = out[i - 1][1] if i else 0
            m = _COMPLEX_BEFORE.search(text, max(lo, a - 40), a)
            if m is not None:
                out[i] = (m.start(), b, t)
        elif t == "CALLE" and i + 1 < len(out) and out[i + 1][2] == "TERRITORIO":
            # a Mexican colonia's label at the end of a street starts the place after it ("Nº 46 Col. San Lucas")
            m = _COLONIA_END.search(text, a, b)
            x, y, _ = out[i + 1]
            if m is not None and m.start() > a and re.fullmatch(r"\.?[ \t]*", text[b:x]):
                out[i] = (a, m.start(), t)
                out[i + 1] = (m.start() + len(m.group()) - len(m.group().lstrip(" \t,")), y, "TERRITORIO")
    # two spans of one name joined by a hyphen are one ("Complejo Hospitalario La Mancha" - "Centro")
    joined: list[tuple[int, int, str]] = []
    for a, b, t in out:
        if joined and joined[-1][2] == t and text[joined[-1][1]:a] == "-" and t not in ("FECHAS", "NUMERO_TELEFONO") \
                and not (t == "TERRITORIO" and (text[a:b].isdigit() or text[joined[-1][0]:joined[-1][1]].isdigit())):
            joined[-1] = (joined[-1][0], b, t)
        else:
            joined.append((a, b, t))
    return joined


_COMPLEX_BEFORE = re.compile(r"(?i)(?<![\w])(?:complejo|complexo)[ \t]+(?:hospitalario|asistencial)(?:[ \t]+universitario)?[ \t]+$")
_COLONIA_END = re.compile(r"(?i)[ \t,]+(?:col|colonia)$")
# a postcode at the end or the start of a place's span ("San Lucas Coyoacán 04030"): MEDDOCAN marks it apart (not
# from a country's letter: "E 28053")
_PLACE_POSTCODE = re.compile(r"(?P<p>.*?[^\W\d_]{2}.*?)[ \t,]+(?P<z>\d{5})|(?P<z2>\d{5})(?:[ \t,]+|-)(?P<p2>.*?[^\W\d_]{2}.*)")


def _split_postcodes(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Territory spans with a postcode at one end split into the place and the postcode (both territories)."""
    out = []
    for a, b, t in spans:
        m = _PLACE_POSTCODE.fullmatch(text, a, b) if t == "TERRITORIO" else None
        if m is None:
            out.append((a, b, t))
        elif m.group("z"):
            out.extend([(a, m.end("p"), t), (m.start("z"), b, t)])
        else:
            out.extend([(a, m.end("z2"), t), (m.start("p2"), b, t)])
    return out


def _overlap_groups(items: list[tuple]) -> Iterator[tuple[list[tuple], int]]:
    """Runs of overlapping spans ``(start, end, ...)`` of a list sorted by start, each with the run's end."""
    i = 0
    while i < len(items):
        group = [items[i]]
        end = items[i][1]
        i += 1
        while i < len(items) and items[i][0] < end:
            group.append(items[i])
            end = max(end, items[i][1])
            i += 1
        yield group, end


def _rules_win(text: str, ms: list[tuple], rs: list[tuple]) -> bool:
    """Whether the rules' spans of a group win over the tagger's.

    They do where a rule sure of its type and boundaries sees another category than the tagger (a name rule
    only where both start at the same word: they read the same words differently; the tagger's street that
    starts before a title is a street named after a doctor, "Paseo Dr. Marañón, 14"), where a date of the
    tagger's holds a place or a name of the rules' ("Albacete desde 2010"), and where the tagger's dates lie
    inside one date of the rules' (the tagger read part of it: "julio-2004" of "26-julio-2004").
    """
    if all(m[2] == "FECHAS" for m in ms) and any(
            _coarse_of(text, *r[:3]) == "FECHA" and all(r[0] <= m[0] and m[1] <= r[1] for m in ms) for r in rs):
        return True
    return any(r[4] and any(m[0] < r[1] and r[0] < m[1] and _coarse_of(text, *m[:3]) != _coarse_of(text, *r[:3])
                            and (r[4] == 2 or m[0] == r[0]) for m in ms) for r in rs) or any(
        m[2] == "FECHAS" and any(m[0] <= r[0] and r[1] <= m[1] and _coarse_of(text, *r[:3]) in ("LOC", "NAME", "INST")
                                 for r in rs) for m in ms)


def _join_pieces(text: str, spans: list[tuple[int, int, str]],
                 pieces: set[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """Sorted spans with a piece right after or before a span of the same type, only spaces between, made one
    with it ("GALVARRO" from the tagger, "AZZAROUALI" from the header's value)."""
    merged: list[tuple[int, int, str]] = []
    for a, b, t in spans:
        if merged and merged[-1][2] == t and ((a, b) in pieces or merged[-1][:2] in pieces) \
                and text[merged[-1][1]:a].strip(" \t") == "" and a >= merged[-1][1]:
            merged[-1] = (merged[-1][0], b, t)
            pieces.add(merged[-1][:2])
        else:
            merged.append((a, b, t))
    return merged


def _continues_a_name(text: str, x: int, y: int, keep: list[tuple]) -> bool:
    """Whether a rule's piece ``text[x:y]`` beyond the tagger's spans goes on with the name a kept span ends in,
    on its line: up to three words capitalized as that span's last word is (``Quispe`` after the tagger's
    ``12345678 Ulpiano Teixidor`` of a "NASS:" value), no role, department or clinical words."""
    piece = text[x:y]
    words = re.findall(r"[^\W\d_]+", piece)
    if not words or len(words) > 3 or "\n" in piece:
        return False
    prev = next((k for k in keep if k[1] <= x and not text[k[1]:x].strip(" \t")), None)
    last = re.findall(r"[^\W\d_]+", text[prev[0]:prev[1]]) if prev is not None else []
    if not last or not last[-1][:1].isupper() or gz.key(last[-1]) in _ALWAYS_STOP:
        return False
    return (_same_case(last[-1], " ".join(words)) and _person_piece(piece) and _not_stop_words(piece)
            and not _is_clinical_phrase(piece))


def _person_piece(piece: str) -> bool:
    """Whether what a person header's or a title's name covers beyond the tagger's span is still the person's
    (``AZZAROUALI`` after ``GALVARRO``), not the department or hospital the value runs on into."""
    return (not _NOT_PERSON.search(piece) and not re.search(rf"(?i)\b(?:{_INST_HEAD_WORDS})\b", piece)
            and not _not_a_name_piece(piece))


def _not_a_name_piece(piece: str) -> bool:
    words = [gz.key(w) for w in re.findall(r"[^\W\d_]+", piece)]
    return not words or all(w in _ALWAYS_STOP or w in _PARTICLES for w in words)


_STREET_TITLE = re.compile(r"(?i:doctora?|dra?|profesora?|prof)\.?")
_PARTICLES = frozenset("de del la las los y i e da das do dos van von di san santa".split())


def _evidence(piece: str, typ: str = "") -> bool:
    """Whether a piece a rule covers beyond the tagger's span is worth a span: a digit, a known name or place,
    an institution's or a street's head word (or title: "Doctor Vertiz 737") in a rule's institution or street."""
    if any(c.isdigit() for c in piece):
        return True
    if COARSE.get(typ) == "INST" and re.search(rf"(?:{_INST_HEAD})\b", piece):
        return True
    if typ == "CALLE" and (re.search(rf"(?i:{_STREET_TYPES})", piece) or _STREET_TITLE.fullmatch(piece)):
        return True  # a street's word, or the title of a street named after a doctor ("Doctor" Vertiz 737)
    first, last, places = gz.first_names(), gz.last_names(), gz.places()
    return any(k in first or k in last or k in places
               for k in (gz.key(w) for w in re.findall(r"[^\W\d_]{2,}", piece)) if k not in _ALWAYS_STOP)


def _union_with(spans: list[tuple[int, int, str]], deny: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """``spans`` with each deny span merged into the spans it overlaps (their union, their type)."""
    items = sorted([(a, b, t, 0) for a, b, t in spans] + [(a, b, t, 1) for a, b, t in deny])
    out: list[tuple[int, int, str]] = []
    for group, end in _overlap_groups(items):
        ss = [g for g in group if g[3] == 0]
        if all(g[3] == 0 for g in group):
            out.extend((a, b, t) for a, b, t, _ in group)
        else:
            out.append((group[0][0], end, (ss[0] if ss else group[0])[2]))
    return out


def _coarse_of(text: str, a: int, b: int, typ: str) -> str:
    c = COARSE.get(typ, "NUM")
    return "DIR" if typ == "TERRITORIO" and text[a:b].isdigit() else c


# a sentence end inside a tagger span: a number, a period, then a sentence of lower-case words ("NHC: 2569870.
# Derrame pleural derecho"); an address goes on with capitalized words or numbers ("1. Bajo A")
_SENTENCE_IN_SPAN = re.compile(r"(?<=\d)\.[ \t]+(?=[A-ZÁÉÍÓÚÑ][a-záéíóúñ]+(?:[ \t]+[a-záéíóúñ]+)+[ \t]*$)")
# a bare number the tagger calls a territory is no postcode when a unit or a count follows it ("15300
# plaquetas", "125 000/µl"); a lower-case word may be a town in lower-cased text ("28036 madrid")
_NOT_POSTCODE_AFTER = re.compile(
    rf"[ \t]*(?:[µ%/]|x\b|{_UNITS}|(?i:plaquetas|leucocitos|hemat[ií]es|linfocitos|neutr[oó]filos|c[eé]lulas|copias|"
    rf"unidades|veces|pacientes|casos)\b)")
_LEADING_TITLE = re.compile(r"(?i:doctora?|dra?|dres|sra?|srta|prof(?:esora?)?|don|do[nñ]a)\b\.?[ \t]+")
# a record-number label right before a number
_ID_LABEL_BEFORE = re.compile(r"(?i)\b(?:sip|cip|nhc|n\.h\.c|hc|dni|nif|nie|historia(?: cl[ií]nica)?)\W*$")


_FAMILY_WORD = re.compile(
    r"(?i)famili|neonat|reci[eé]n nacid|beb[eé]|feto|gesta|padre|madre|abuel|herman|hij[oa]|t[ií][oa]s?\b|prim[oa]|"
    r"sobrin|niet[oa]|espos|marido|pareja|c[oó]nyuge|suegr|cu[nñ]ad|gemel|melliz|patern|matern|var[oó]n|mujer|ni[nñ][oa]")
_AGE_FORM = re.compile(rf"(?i){_AGE_NUMBER}[ \t]*(?:a[ñn]os|meses|d[ií]as|semanas)(?:[ \t]+de[ \t]+edad)?")
_SOCIAL_TITLE = re.compile(r"(?i:don|do[nñ]a|sra?|srta)\b\.?[ \t]+")
_FORM_WORDS = frozenset("firmado fecha procedencia servicio medico exploracion informe original anexo fdo paciente "
                        "nombre nombrepropio solicitante peticion".split())


def _is_clinical_phrase(span: str) -> bool:
    """Whether the whole of ``span`` is a finding or anatomical location of the report labeler's lexicon
    ("Derrame Pleural" in a capitalized list of findings)."""
    from .text import normalize

    k = normalize(span)
    if not k or any(c.isdigit() for c in k):
        return False
    return any(a == 0 and b >= len(k) for _, a, b in _clinical_words().find(k))


# what every age of MEDDOCAN train holds: a number (in digits or words, before a unit of time) or an age word
# (at a word's start: "subsahariano" holds no "año")
_AGE_EVIDENCE = re.compile(r"(?i)\d|\b(?:a[ñn]o|mes|d[ií]a|semana|hora|edad|vida|nacid|neonat|lactante|adolescen|infan|"
                           r"anciano|octogenari|nonagenari|centenari|quinceañ|d[eé]cada)")
# words before a span of time ("tras", "al cabo de", "desde hace", "durante los"): what follows is no age
_DURATION_BEFORE = re.compile(r"(?i)\b(?:periodo|per[ií]odo|luego|despu[eé]s|tras|durante|hace|cabo|[uú]ltimos|lapso|plazo|"
                              r"espacio)(?:[ \t]+de)?(?:[ \t]+(?:los|las|unos|unas))?[ \t]+$")
_NUMBER_GROUPS = re.compile(r"\d+(?:[-/.]\d+)+")


# a phone or fax key at the start of a span, and the numbers after it
_PHONE_KEY_START = re.compile(r"(?i)(?:tel[eé]fonos?|tel|tlf|tfno|m[oó]vil|fax)\b\.?[ \t]*:?[ \t]*")
_PHONE_NUMBER = re.compile(r"(?:\+[ \t]?)?\d(?:[ .-]?\d){5,}")
# a role word after a name's first word (any case: lower-cased text too)
_ROLE_IN_NAME = re.compile(r"(?<=\S)[ \t,]+(?:(?i:residente|supervisora?|adjunt[oa]|jef[ea]|coordinadora?|directora?|"
                           r"catedr[aá]tic[oa]|departamento|department|doctora?)|Reader|MDS|PhD|MD|Dra?\.?)(?![\w])")


_FRACTION = re.compile(r"\d{1,4}/\d{1,4}")


def _spaced_date(text: str, a: int, b: int) -> bool:
    """Whether ``text[a:b]`` is a whole date written with spaces (``30 03 2020``) with a valid day and month."""
    m = _DATE_SPACED.fullmatch(text, a, b)
    return m is not None and m.group("d") is not None and 1 <= int(m.group("d")) <= 31 and 1 <= int(m.group("m")) <= 12


def _date_like(span: str) -> bool:
    """Whether a span the tagger calls a date may be one: not numbers joined by hyphens, slashes or dots of which
    one has three or more than four digits, a four-digit one is no year (19xx, 20xx), or more than three."""
    if not _NUMBER_GROUPS.fullmatch(span):
        return True
    groups = re.split(r"[-/.]", span)
    return len(groups) <= 3 and all(len(g) in (1, 2) or (len(g) == 4 and g[:2] in ("19", "20")) for g in groups)


_DATE_JOINER = re.compile(r"[ \t]+(?:y|e|o|u|a|al|hasta|-)[ \t]+")


def _date_parts(text: str, a: int, b: int) -> list[tuple[int, int]]:
    """The dates a span joins by conjunctions or a spaced hyphen ("2001 y 2005", "marzo de 2019 a enero de
    2020"), when every part is a whole date of the rules; else nothing."""
    parts, x = [], a
    for m in _DATE_JOINER.finditer(text, a, b):
        parts.append((x, m.start()))
        x = m.end()
    parts.append((x, b))
    return parts if all(_DATE.fullmatch(text, x, y) for x, y in parts) else []


# the words of BIMCV's footer ("anexo  <id> fecha  <date> firmado  <number>  nombrepropio"): never PHI themselves
_FOOTER_WORD = re.compile(r"(?<![\w])(?:anexo|fecha|firmado|fdo|nombrepropio|peticion|exploracion)(?![\w])")
_FOOTER_SPLIT_TYPES = frozenset(("NUMERO_TELEFONO", "NUMERO_FAX", "ID_SUJETO_ASISTENCIA", "ID_CONTACTO_ASISTENCIAL",
                                 "ID_ASEGURAMIENTO", "ID_EMPLEO_PERSONAL_SANITARIO", "FECHAS", "CALLE",
                                 "FAMILIARES_SUJETO_ASISTENCIA"))
_TRAILING_WORDS = re.compile(r"(?:[ \t]+[a-zñáéíóúü]+)+$")


def _split_footer_spans(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Tagger spans of lower-cased BIMCV text split at its footer's form words, which they ran over ("7654321
    fecha  2020 04 02", "cardiomegalia .  anexo  7654321 ... firmado  777"); a piece without a digit that is a
    finding or only punctuation dropped; a phone number's trailing lower-case words that no gazetteer knows
    dropped ("11 05 20 asinclitica": a phone does not end in a word).  What follows "fecha" is the footer's date."""
    first, last = gz.first_names(), gz.last_names()
    out: list[tuple[int, int, str]] = []
    for a, b, t in spans:
        if t not in _FOOTER_SPLIT_TYPES:
            out.append((a, b, t))
            continue
        cuts = [(m.start(), m.end()) for m in _FOOTER_WORD.finditer(text, a, b)] if text[a:b].islower() else []
        edges = [a] + [x for c in cuts for x in c] + [b]
        for k, (x, y) in enumerate(zip(edges[::2], edges[1::2])):
            typ = "FECHAS" if k and text[cuts[k - 1][0]:cuts[k - 1][1]] == "fecha" else t  # the footer's date
            piece = text[x:y]
            x, y = x + len(piece) - len(piece.lstrip(" \t.,;:")), y - (len(piece) - len(piece.rstrip(" \t.,;:")))
            if y <= x:
                continue
            piece = text[x:y]
            if not any(c.isdigit() for c in piece) and (cuts or t in ("NUMERO_TELEFONO", "NUMERO_FAX")) \
                    and _is_clinical_phrase(piece.replace(".", " ").strip()):
                continue
            if t in ("NUMERO_TELEFONO", "NUMERO_FAX") and any(c.isdigit() for c in piece):
                tail = _TRAILING_WORDS.search(piece)
                if tail and not any(gz.key(w) in first or gz.key(w) in last for w in tail.group().split()):
                    y = x + tail.start()
            out.append((x, y, typ))
    return out


# a count, a measure or a temperature after a number: no house number ("Dr. García 3 veces", "Dr. Pérez 38,5 ºC")
_COUNT_AFTER_NUMBER = re.compile(r"(?i)(?<![\w,.])\d{1,3}(?:[ \t]*[ºª°])?[ \t]+(?:veces|vez|proyecci[oó]n(?:es)?|"
                                 r"control(?:es)?|dosis|ciclos?|grados?|mg|ml|mm|cm|kg)\b|\d[,.]\d[ \t]*[ºª°][ \t]*c\b")


def _clean_model_spans(text: str, spans: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Tagger spans cut at a sentence end, and findings and lab values the tagger took for PHI dropped."""
    out = []
    emails: set[tuple[int, int]] = set()
    for a, b, t in _split_footer_spans(text, spans):
        if t == "CALLE" and _COUNT_AFTER_NUMBER.search(text, a, b) and not _ADDRESS_START_RX.match(text, a):
            continue  # a name then a count the tagger took for a street named after a doctor ("García 3 veces")
        if t == "CORREO_ELECTRONICO":  # the address it overlaps, whole and alone ("ana@x.es 1Médica" -> "ana@x.es")
            lo, hi = text.rfind("\n", 0, a) + 1, text.find("\n", b)
            found = [(x, y) for x, y in _emails(text, lo, None if hi < 0 else hi) if x < b and a < y]
            if found:
                out.extend((x, y, t) for x, y in found if (x, y) not in emails)
                emails.update(found)
                continue
        m = _SENTENCE_IN_SPAN.search(text, a, b)
        if m is not None:
            b = m.start()
        if COARSE.get(t) != "NUM" and (m := _PHONE_KEY_START.match(text, a, b)) is not None:
            # a phone key the tagger put into a street or a place ("Tfno. 956 013 059 y 956 013 060"): the numbers
            # after it are phone (or fax) numbers, each a span; the key is no PHI
            nums = [n.span() for n in _PHONE_NUMBER.finditer(text, m.end(), b)]
            rest = "".join(text[x:y] for x, y in zip([m.end()] + [e for _, e in nums], [s for s, _ in nums] + [b]))
            if nums and re.fullmatch(r"(?i)(?:[\s,;/.-]|\b[yeo]\b)*", rest):  # nothing but the numbers
                typ = "NUMERO_FAX" if m.group().lower().startswith("fax") else "NUMERO_TELEFONO"
                out.extend((x, y, typ) for x, y in nums)
                continue
        if t.startswith("NOMBRE_") or (t == "CALLE" and _SOCIAL_TITLE.match(text, a, b)):
            # the title before a name is not the name ("Doctora Marta García"); a courtesy title starts a person,
            # not a street ("Doña Camino Torres 12/03/2020": the name and the date are the rules')
            m = _LEADING_TITLE.match(text, a, b)
            if m is not None and m.end() < b:
                a = m.end()
        if t.startswith("NOMBRE_"):
            # a role after the name ends it ("Dra. María Luz Sánchez Tocino Supervisora Centros FRIAT"; no name of
            # MEDDOCAN train holds one): what follows the role is another span, the institution if one is named
            m = _ROLE_IN_NAME.search(text, a, b)
            if m is not None:
                rest = text[m.end():b].strip(" \t,.")
                if rest and any(c.isalnum() for c in rest):
                    x = b - len(text[m.end():b].lstrip(" \t,."))
                    out.append((x, x + len(rest), "INSTITUCION" if re.search(rf"(?i:{_INST_HEAD_WORDS})|\b[A-Z]{{3,}}\b",
                                                                           rest) else t))
                b = len(text[:m.start()].rstrip(" \t,"))
        if _is_clinical_phrase(text[a:b]):
            continue
        if t == "FAMILIARES_SUJETO_ASISTENCIA" and not _FAMILY_WORD.search(text, a, b):
            # on text unlike its training data the tagger calls other things relatives ("paciente de 60 anos",
            # BIMCV's "firmado"): an age is an age; a form word alone is nothing
            if _AGE_FORM.fullmatch(text, a, b):
                t = "EDAD_SUJETO_ASISTENCIA"
            elif not any(c.isdigit() for c in text[a:b]) and all(
                    gz.key(w) in _FORM_WORDS for w in re.findall(r"[^\W\d_]+", text[a:b])):
                continue
        if t == "EDAD_SUJETO_ASISTENCIA" and not _AGE_EVIDENCE.search(text, a, b):
            continue  # no number, no unit of time, no age word: not an age ("Paciente con labio leporino")
        if t == "EDAD_SUJETO_ASISTENCIA" and _DURATION_BEFORE.search(text, max(0, a - 30), a):
            continue  # a time span, not an age ("luego de 6 años", "en un periodo de 6 años"; never an age on train)
        if t in ("NUMERO_TELEFONO", "NUMERO_FAX", "ID_SUJETO_ASISTENCIA") and _spaced_date(text, a, b) \
                and not _ID_LABEL_BEFORE.search(text, max(0, a - 24), a) \
                and not any(rx.search(text, max(0, a - 40), a) for rx, _ in _TYPE_KEYS):
            t = "FECHAS"  # lower-cased text's "estudio de 30 03 2020" (no phone: 8 digits, no key before it)
        if t == "FECHAS" and _DATE_JOINER.search(text, a, b):
            # two dates the tagger joined ("entre 2001 y 2005"): MEDDOCAN marks each (none of train's dates holds
            # a conjunction); a date with one inside it stays whole ("1 y 2 de marzo")
            parts = _date_parts(text, a, b)
            if parts:
                out.extend((x, y, t) for x, y in parts)
                continue
        if t == "FECHAS" and not _date_like(text[a:b]):
            # numbers the tagger took for a date ("Tfno. 34-600111222", "NSS: 12-34-56-7890-1", "800-1000 ml")
            if _NOT_POSTCODE_AFTER.match(text, b):
                continue
            before = text[max(0, a - 40):a]
            k = next((k for rx, k in _TYPE_KEYS if rx.search(before)), None)
            if k is None and _FRACTION.fullmatch(text, a, b):
                continue  # a fraction with no key before it: a visual acuity, a dilution ("20/200", "1/1000")
            t = k or t
        if t in ("INSTITUCION", "HOSPITAL", "TERRITORIO", "PAIS") and _ORGS.fullmatch(text, a, b):
            # a company or a hospital's acronym by name ("Pfizer, Madrid" is no place, "CHUAC" a hospital)
            t = "HOSPITAL" if gz.key(text[a:b]) in _HOSPITAL_ACRONYMS else "INSTITUCION"
        if t == "TERRITORIO" and text[a:b].replace(" ", "").isdigit():
            if _NOT_POSTCODE_AFTER.match(text, b):
                continue
            if _ID_LABEL_BEFORE.search(text, max(0, a - 24), a):  # "NHC 50001" is a record number
                t = _fine_type(text, PhiSpan(a, b, "NUM"))
        if b > a:
            out.append((a, b, t))
    return out


def find_phi(text: str, extra_terms=None, *, model: bool = True) -> list[PhiSpan]:
    """All protected-information spans of ``text``: the trained tagger, the rules and gazetteers, and the
    patient's own values, combined; non-overlapping, in order.

    The text is first normalized (:func:`covidbank.nlp.normalize.normalize_for_matching`: NFKC, no-break and
    zero-width characters, full-width digits); offsets are the original text's.

    Parameters
    ----------
    text : str
        Report text, ordinary or BIMCV's lower-cased, accent-stripped form.
    extra_terms : DenyList or sequence of str, optional
        The patient's own values (at ingest, :meth:`covidbank.dicom.denylist.DenyList.from_dataset` of the
        patient's DICOM headers; or plain strings: names and ids).  Every occurrence is a span.
    model : bool
        Use the trained tagger (:mod:`covidbank.nlp.tagger`); ``False`` gives the rules alone.

    Returns
    -------
    list of PhiSpan
        Offsets into ``text`` with their coarse category and PHI type.
    """
    if not text:
        return []
    from .normalize import normalize_for_matching

    norm = normalize_for_matching(text)
    t = norm.text
    # (start, end, type, sure): a rule that named the type is sure of it (1), and of its boundaries too (2)
    # unless it is a header value (they run on: "Remitido por: Ana Gil, Servicio de Nefrología, Hospital ...")
    others = [(a, b, _fine_type(t, PhiSpan(a, b, cat, typ)), (1 if prio == 0 or typ in _TYPE_ONLY else 2) if typ else 0)
              for a, b, cat, typ, prio in _rule_spans(t)]
    tagged: list[tuple[int, int, str]] = []
    if model:
        from .tagger import default_tagger

        tagged = _clean_model_spans(t, default_tagger().tag(t))
    spans = []
    for a, b, typ in _lower_hospitals(t, _combine(t, tagged, others, _deny_spans(t, extra_terms))):
        x, y = norm.to_original(a, b)
        # MEDDOCAN types a postcode as a territory, DiSMed as part of the address
        spans.append(PhiSpan(x, y, _coarse_of(t, a, b, typ), typ))
    return spans


_AGE_WORDS_90 = re.compile(r"(?i)\b(?:noventa|cien|ciento)\b")


def generalize_age(original: str, max_age: int = 89) -> str:
    """An age as the policy writes it: unchanged up to ``max_age``, ``90+`` above (``"94 años"`` ->
    ``"90+ años"``); an age in words of ninety or more becomes ``90+`` too."""
    m = re.search(r"\d+", original)
    if m:
        if int(m.group()) > max_age and re.search(r"(?i)mes|d[ií]a|semana", original[m.end():]) is None:
            return original[:m.start()] + f"{max_age + 1}+" + original[m.end():]
        return original
    if _AGE_WORDS_90.search(original):
        unit = " años" if re.search(r"(?i)a[ñn]os", original) else ""
        return f"{max_age + 1}+{unit}"
    return original


# ------------------------------------------------------------------- public
def deidentify(
    text: str,
    surrogates: Surrogates | None = None,
    placeholder: str = "[{category}]",
    *,
    extra_terms=None,
    policy: dict[str, str] | None = None,
    model: bool = True,
) -> DeidResult:
    """De-identify one text.

    Parameters
    ----------
    text : str
        The report.
    surrogates : Surrogates, optional
        Replace with consistent surrogates (and shifted dates) instead of
        placeholders, for the types whose policy is ``surrogate``.
    placeholder : str
        Placeholder format; ``{category}`` is the span's coarse category, ``{type}`` its PHI type.
    extra_terms : DenyList or sequence of str, optional
        The patient's own values (names, ids, dates from the DICOM headers): see :func:`find_phi`.
    policy : dict, optional
        PHI type -> ``keep``, ``generalize``, ``surrogate`` or ``remove``, over :data:`DEFAULT_POLICY`
        (keep sex; ages kept up to 89 and written ``90+`` above; everything else replaced).
    model : bool
        Use the trained tagger with the rules (default) or the rules alone.

    Returns
    -------
    DeidResult
        The new text and the spans found (offsets in the *input* text), kept ones included.

    Examples
    --------
    >>> deidentify("Paciente: Pedro García. Ingreso el 27/01/2020 en el Hospital La Paz.").text
    'Paciente: [NAME]. Ingreso el [FECHA] en el [INST].'
    """
    if not isinstance(text, str) or not text:
        return DeidResult("" if not isinstance(text, str) else text, [])
    pol = DEFAULT_POLICY if policy is None else {**DEFAULT_POLICY, **policy}
    bad = {a for a in pol.values() if a not in _ACTIONS}
    if bad:
        raise ValueError(f"unknown de-identification action(s) {sorted(bad)}: use one of {', '.join(_ACTIONS)}")
    spans = find_phi(text, extra_terms, model=model)
    parts: list[str] = []
    pos = 0
    for s in spans:
        action = pol.get(s.type, "surrogate")
        orig = text[s.start:s.end]
        if action == "keep":
            continue
        if action == "generalize":
            new = generalize_age(orig) if s.type == "EDAD_SUJETO_ASISTENCIA" else orig
            if new == orig:
                continue
        elif action == "surrogate" and surrogates is not None:
            new = surrogates.replace(orig, s.category, s.type)
        else:
            new = placeholder.format(category=s.category, type=s.type)
        parts.append(text[pos:s.start])
        parts.append(new)
        pos = s.end
    parts.append(text[pos:])
    return DeidResult("".join(parts), spans)
