import re

import pytest

from covidbank.reports import CATEGORIES, Surrogates, deidentify, find_phi
from covidbank.reports.deid import shift_date


def cats(text):
    return {(text[s.start:s.end], s.category) for s in find_phi(text)}


@pytest.mark.parametrize("text, span, category", [
    # NAME
    ("Nombre: Pedro.", "Pedro", "NAME"),
    ("Apellidos: De Miguel Rivera.", "De Miguel Rivera", "NAME"),
    ("Valorado por el Dr. Marín en consulta.", "Marín", "NAME"),
    ("La paciente, Carmen Sánchez Rubio, acude a urgencias.", "Carmen Sánchez Rubio", "NAME"),
    ("Médico: Estefanía Romero Selas  NºCol: 28 28 20943.", "Estefanía Romero Selas", "NAME"),
    ("supervisado por la dra . calvo", "calvo", "NAME"),
    # DIR
    ("Domicilio: Calle Carmen Romero, 23, 1D.", "Calle Carmen Romero, 23, 1D", "DIR"),
    ("Vive en la Avenida de América, 12.", "Avenida de America, 12".replace("America", "América"), "DIR"),
    ("CP: 28035.", "28035", "DIR"),
    # LOC
    ("Localidad/ Provincia: Madrid.", "Madrid", "LOC"),
    ("Natural de Marruecos, reside en Albacete desde 2010.", "Marruecos", "LOC"),
    ("Natural de Marruecos, reside en Albacete desde 2010.", "Albacete", "LOC"),
    ("País: España.", "España", "LOC"),
    # NUM
    ("NHC: 2569870.", "2569870", "NUM"),
    ("Correo electrónico: eromero@yahoo.es", "eromero@yahoo.es", "NUM"),
    ("Contacto en el teléfono 967 597 100.", "967 597 100", "NUM"),
    ("Número de exploración AC-12321.", "AC-12321", "NUM"),
    ("DNI 12345678Z presentado.", "DNI 12345678Z", "NUM"),
    # FECHA
    ("TC previa del 27-01-20.", "27-01-20", "FECHA"),
    ("Ingreso el 27/01/2020.", "27/01/2020", "FECHA"),
    ("Ingresó el 27 de enero de 2020.", "27 de enero de 2020", "FECHA"),
    ("Síntomas desde enero 2020.", "enero 2020", "FECHA"),
    ("Operado en el año 2004.", "año 2004", "FECHA"),
    ("se compara con estudio de 30 03 2020 .", "30 03 2020", "FECHA"),
    # INST
    ("Remitido desde el Hospital Universitario La Paz.", "Hospital Universitario La Paz", "INST"),
    ("Seguimiento en el Centro de Salud Pare Jofre.", "Centro de Salud Pare Jofre", "INST"),
    ("Estudio financiado por Pfizer.", "Pfizer", "INST"),
    # upper-case form fields without a colon (bilingual hospital forms)
    ("PRIMER COGNOM\nPRIMER APELLIDO ALBIÑANA\nSEGON COGNOM\nSEGUNDO APELLIDO QUEROL\n", "ALBIÑANA", "NAME"),
    ("PRIMER COGNOM\nPRIMER APELLIDO ALBIÑANA\nSEGON COGNOM\nSEGUNDO APELLIDO QUEROL\n", "QUEROL", "NAME"),
    ("NOM\nNOMBRE EUSEBIA\nSIP\n", "EUSEBIA", "NAME"),
    ("DIRECCIÓ\nDIRECCION CARRER NOU - 7 puerta 3 12001\nVILA-REAL\n", "CARRER NOU - 7 puerta 3 12001", "DIR"),
    ("METGE PETICIONARI / MÉDICO PETICIONARIO\nBOIX FERRANDO , ROSALIA\nPROVES INFORMADES\n",
     "BOIX FERRANDO , ROSALIA", "NAME"),
    ("Hospital Comarcal ·\nC. Valencia Km. 3 · 12540 BURRIANA · Tel. 96 000 00 00", "C. Valencia Km. 3", "DIR"),
    ("Hospital Comarcal ·\nC. Valencia Km. 3 · 12540 BURRIANA · Tel. 96 000 00 00", "12540", "DIR"),
    ("Acceso por la Ctra. de Colmenar Km 9,1.", "Ctra. de Colmenar Km 9,1", "DIR"),
    # a form that starts with a byte-order mark, and referral headers
    ("\ufeffNombre: Ramón .\nApellidos: García Robles.", "Ramón", "NAME"),
    ("Remitido por: Mariola Sirvent Ochando. Clínica Vistahermosa.", "Mariola Sirvent Ochando", "NAME"),
    # a name ends where an address starts
    ("Responsable clínico: Dr. Ramiro Cabello Benavente Av. Galaxia 6, esc. 2", "Ramiro Cabello Benavente", "NAME"),
    # the town after a postcode, and postcodes in their usual company
    ("Avenida Lezaun, 14, 31620 Gorraiz (Navarra).", "Gorraiz", "LOC"),
    ("C/ Feixa Llarga, s/n. 08907 L’Hospitalet de Llobregat.", "08907", "DIR"),
    ("C/ Feixa Llarga, s/n. 08907 L’Hospitalet de Llobregat.", "L’Hospitalet de Llobregat", "LOC"),
    ("Delegación Benito Juárez Código Postal 03020. México.", "03020", "DIR"),
])
def test_categories(text, span, category):
    assert (span, category) in cats(text)


@pytest.mark.parametrize("text", [
    "Derrame pleural derecho de 2 cm.",
    "Plaquetas 291000/µl, leucocitos 12700.",
    "Tratamiento con amoxicilina 500 mg cada 8 horas.",
    "Presión intraocular (PIO) de 16 mmHg.",
    "Se coloca drenaje pleural.",
    "Opacidades periféricas bilaterales compatibles con COVID-19.",
    "Ingresa en la Unidad de Cuidados Intensivos.",
    "Angio-RM de los troncos supraaórticos, polígono de Willis y de los senos venosos.",
    "NOMBRE del fármaco administrado: amoxicilina.",
    "Se administran 10000 UI de heparina.",
])
def test_no_false_positives_on_clinical_text(text):
    assert find_phi(text) == []


def test_placeholders_and_spans_refer_to_input():
    t = "Paciente: Pedro García. Ingreso el 27/01/2020 en el Hospital La Paz."
    r = deidentify(t)
    assert r.text == "Paciente: [NAME]. Ingreso el [FECHA] en el [INST]."
    assert [(t[s.start:s.end], s.category) for s in r.spans] == [
        ("Pedro García", "NAME"), ("27/01/2020", "FECHA"), ("Hospital La Paz", "INST")]
    assert all(s.category in CATEGORIES for s in r.spans)
    assert set(r.spans[0].as_dict()) == {"start", "end", "category"}


def test_surrogates_are_consistent_per_patient_and_differ_across():
    t = "Nombre: Pedro García. Visto por el Dr. García. NHC: 2569870."
    a1 = deidentify(t, surrogates=Surrogates("patient-1")).text
    a2 = deidentify(t, surrogates=Surrogates("patient-1")).text
    b = deidentify(t, surrogates=Surrogates("patient-2")).text
    assert a1 == a2 and a1 != b
    assert "Pedro" not in a1 and "2569870" not in a1
    # the same surname maps to the same surrogate within the patient
    sur = Surrogates("patient-1")
    assert sur.replace("García", "NAME") == sur.replace("GARCÍA", "NAME").capitalize()
    num = re.search(r"NHC: (\S+)\.", a1).group(1)
    assert len(num) == 7 and num.isdigit()


def test_dates_shift_keeping_form():
    assert shift_date("27/01/2020", 10) == "06/02/2020"
    assert shift_date("27-01-20", 5) == "01-02-20"
    assert shift_date("27 de enero de 2020", 5) == "1 de febrero de 2020"
    assert shift_date("enero de 2020", 31) == "febrero de 2020"
    assert shift_date("31/02/2020", 1) is None
    r = deidentify("TC previa del 27-01-20 y control el 30/01/2020.", surrogates=Surrogates("p", date_shift_days=-3))
    assert r.text == "TC previa del 24-01-20 y control el 27/01/2020."
    # without a known shift, dates are placeholders even with surrogates
    assert deidentify("Ingreso el 27/01/2020.", surrogates=Surrogates("p")).text == "Ingreso el [FECHA]."


def test_empty_and_non_text():
    assert deidentify("").text == "" and deidentify("").spans == []
    assert deidentify(None).spans == []


@pytest.mark.parametrize("text", [
    "nhc  93544 paciente   nombrepropio   exploracion  torax",
    "paciente    nombrepropio   hc   60332  f . estudio  [FECHA]",
    "NHC 50001. Rx de tórax.",
    "n.h.c. 1234 paciente",
])
def test_bimcv_record_number_without_colon_is_removed(text):
    # BIMCV's lower-cased form writes the record number after 'nhc'/'hc' with no colon;
    # 5-digit numbers slipped through every other number rule into the bank
    out = deidentify(text).text
    assert not re.search(r"\d{4,}", out), out
    assert "[NUM]" in out


def test_bimcv_signature_block_numbers_and_surname_are_removed():
    # seen in the bank built from the BIMCV dev table: report/annex numbers ending in 00, the signing
    # radiologist's staff number and a surname after it
    text = ("opacidad en lid .   anexo  909200 fecha  [FECHA] firmado  1226 diaz  nombrepropio   nombrepropio "
            "informe original  1201769 fecha  [FECHA] firmado  1185  nombrepropio")
    out = deidentify(text).text
    assert not re.search(r"\d{3,}", out), out
    assert "diaz" not in out, out
    assert "firmado  [NUM] [NAME]  nombrepropio" in out, out


def test_header_value_stops_at_the_sentence_end_and_findings_survive():
    from covidbank.reports import deidentify

    assert deidentify("NHC: 123456. Derrame pleural derecho.").text == "NHC: [NUM]. Derrame pleural derecho."
    out = deidentify("Hospital: Springfield General Hospital. Derrame pleural derecho. Cardiomegalia.").text
    assert out == "Hospital: [INST]. Derrame pleural derecho. Cardiomegalia."
    # abbreviations inside the value do not end it
    out = deidentify("Hospital: Hospital Univ. La Paz. Derrame pleural.").text
    assert "Paz" not in out and "Univ" not in out and out.endswith("Derrame pleural.")


def test_an_identifier_number_is_not_taken_for_a_postcode():
    text = "SIP 23456 NÚM.D'HISTÒRIA CLÍNICA 345678"
    assert ("NÚM", "LOC") not in cats(text)
    assert all(c != "DIR" for _, c in cats(text))


@pytest.mark.parametrize("text, inside, category", [
    ("Paseo de la Castellana 261, 28046 - Madrid, España.", "28046", "DIR"),
    ("Dr. Francisco Delgado Oliva. Avda. del Puerto, 1-8º puerta 14 - 46021 Valencia E-mail: fran@x.com",
     "1-8º puerta 14", "DIR"),
    ("Dra. Noemí Ruiz del Río C/. La Dreda 167 Villapresente.", "La Dreda 167", "DIR"),
])
def test_address_parts_are_inside_an_address_span(text, inside, category):
    i = text.index(inside)
    assert any(s.start <= i and i + len(inside) <= s.end and s.category == category for s in find_phi(text))


def test_an_exploration_number_is_not_a_postcode_before_a_town():
    text = "Número Exploración : AC-12321\n\nRM Cerebral\nRM Vascular Cerebral"
    assert ("AC-12321", "NUM") in cats(text)
    assert not any(c == "LOC" for _, c in cats(text))


def test_a_town_after_a_postcode_stops_before_the_contact_details():
    text = "46021 Valencia E-mail: fran@x.com"
    assert ("Valencia", "LOC") in cats(text)


@pytest.mark.parametrize("text, places", [
    ("Implante (Allergan®, Irvine, California, EE.UU.) de 750 cc.", ["Irvine", "California", "EE.UU"]),
    ("Olivos 973, Independencia, Santiago, Chile. E-mail: x@y.cl", ["Independencia", "Santiago", "Chile"]),
])
def test_places_in_an_address_tail_with_a_known_place(text, places):
    found = cats(text)
    for p in places:
        assert (p, "LOC") in found


@pytest.mark.parametrize("text", [
    "Opacidades en LSD, LID y LII.",
    "Consolidación, Derrame, Atelectasia.",
])
def test_no_place_chain_without_a_known_place(text):
    assert not any(c == "LOC" for _, c in cats(text))
