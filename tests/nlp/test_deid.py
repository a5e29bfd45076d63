import re

import pytest

from covidbank.nlp import CATEGORIES, Surrogates, deidentify, find_phi
from covidbank.nlp.deid import shift_date


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
    assert set(r.spans[0].as_dict()) == {"start", "end", "category", "type"}
    assert [s.type for s in r.spans] == ["NOMBRE_SUJETO_ASISTENCIA", "FECHAS", "HOSPITAL"]


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
    from covidbank.nlp import deidentify

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
    # the tagger's span takes the abbreviation's last dot (the union of the two wins)
    ("Implante (Allergan®, Irvine, California, EE.UU.) de 750 cc.", ["Irvine", "California", "EE.UU."]),
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


def covered(text, part, category=None):
    """Every letter and digit of ``part`` (first occurrence) lies inside a span (of ``category``, if given)."""
    i = text.index(part)
    spans = [s for s in find_phi(text) if category is None or s.category == category]
    return all(any(s.start <= k < s.end for s in spans) for k in range(i, i + len(part)) if text[k].isalnum())


@pytest.mark.parametrize("text, name", [
    ("Médico: Dr. José María de la Rosa Gómez", "José María de la Rosa Gómez"),
    ("Firmado: Dra. Pilar de los Santos Ruiz", "Pilar de los Santos Ruiz"),
    ("Solicitado por: Ana de la Fuente Gil", "Ana de la Fuente Gil"),
    ("Remitido por: Dr. Juan de la Fuente García, Servicio de Radiología", "Juan de la Fuente García"),
    ("Remitido por: Roberto Gallego  Pinazo Correo electrónico: rg@comv.es", "Roberto Gallego  Pinazo"),
    # surnames and given names that are also street words
    ("Informado por la Dra. Plaza.", "Plaza"),
    ("la Dra. Calle revisó el estudio", "Calle"),
    ("Dr. Juan Plaza.", "Juan Plaza"),
    ("Nombre: Camino Ruiz López", "Camino Ruiz López"),
    ("Sr. Camino García del Río  Avda. de la Constitución 13, 03020 Alicante", "Camino García del Río"),
])
def test_whole_names_with_particles_and_street_words(text, name):
    assert covered(text, name, "NAME")


@pytest.mark.parametrize("text, parts", [
    ("Emitido por: Miguel Ángel López Aramburu  Av. Camino San Juan del Monte, 18 09200",
     ["Miguel Ángel López Aramburu", "Av. Camino San Juan del Monte, 18 09200"]),
    ("Informe de Ana Gil Ruiz Avda. del Puerto 5, 28013 Madrid", ["Ana Gil Ruiz", "Avda. del Puerto 5, 28013 Madrid"]),
    ("C/ Colón 12-4, 08907 L'Hospitalet de Llobregat", ["C/ Colón 12-4, 08907 L'Hospitalet de Llobregat"]),
    ("Vive en la Rúa Nova 7, 32005 O Barco de Valdeorras.", ["Rúa Nova 7, 32005 O Barco de Valdeorras"]),
    ("Dr. Rocío Fernández de Córdoba Paseo Plaza de España 1, 28013 Madrid.",
     ["Rocío Fernández de Córdoba", "Plaza de España 1, 28013 Madrid"]),
    ("Dr. Juan Calle Urbano C/ Mayor 5, 28250 Torrelodones", ["Juan Calle Urbano", "C/ Mayor 5, 28250 Torrelodones"]),
    ("Hospital de Jaén, E-23400 Ubeda", ["23400", "Ubeda"]),
    ("Centro de Salud José Ramón Muñoz Paseo Sagasta, 52 50006 Zaragoza", ["Paseo Sagasta, 52 50006 Zaragoza"]),
])
def test_a_name_next_to_an_address_leaves_neither_behind(text, parts):
    for part in parts:
        assert covered(text, part), part


@pytest.mark.parametrize("text, words", [
    ("Leucocitos 12000 Neutrófilos 85%", ["Neutrófilos"]),
    ("Cultivo con 10000 UFC/ml", ["10000", "UFC"]),
    ("Dosis 20000 UNIDADES", ["UNIDADES"]),
    ("Dímero D 25000 Elevado", ["Elevado"]),
    ("Motivo: Viaje a Italia, Fiebre, Tos, Disnea.", ["Fiebre", "Tos", "Disnea"]),
    ("Hallazgos: Cardiomegalia, Derrame Pleural, Granada.", ["Cardiomegalia", "Derrame"]),
    ("Consolidaciones en LSD, LID, Língula, Malta.", ["LSD", "LID", "Língula"]),
    ("PACIENTE\nRX TORAX PA Y LATERAL", ["RX", "TORAX", "LATERAL"]),
    ("RADIOLOGO\nSIN HALLAZGOS", ["HALLAZGOS"]),
    ("FACULTATIVO\nSERVICIO DE RADIODIAGNOSTICO", ["SERVICIO", "RADIODIAGNOSTICO"]),
    ("DIRECCIÓN DEL FLUJO HEPATOPETAL EN VENA PORTA", ["FLUJO", "HEPATOPETAL", "PORTA"]),
    ("DIRECCION CRANEOCAUDAL DE 5 CM", ["CRANEOCAUDAL", "5"]),
    ("Remitido por: Neumología por Disnea.", ["Neumología", "Disnea"]),
    ("Estudio realizado por: Equipo Portátil", ["Equipo", "Portátil"]),
    ("Paracetamol 1 g vía oral cada 6 h y evacuación por vía lumbar 12 días después.", ["oral", "lumbar", "12"]),
    ("Avda. Blasco 3, 46010 FAX: 96 000 00 00", ["FAX"]),
    ("NT-proBNP (35000 pg/ml) elevado.", ["35000"]),
    ("Leucocitos: 8.5, 15300 plaquetas.", ["15300", "plaquetas"]),
    ("Paciente con Enfermedad de Crohn, Síndrome de Down, España.", ["Crohn", "Down"]),
    ("POBLACION PEDIATRICA", ["PEDIATRICA"]),
])
def test_clinical_words_stay(text, words):
    spans = find_phi(text)
    for w in words:
        i = text.index(w)
        assert not any(s.start < i + len(w) and i < s.end for s in spans), w


@pytest.mark.parametrize("text, name", [
    # surnames that start like a contact word
    ("Informe firmado por el Dr. Tello.", "Tello"),
    ("Firmado: Dr. Tellado Gómez", "Tellado Gómez"),
    ("Apellidos: Mejía Tellería.", "Mejía Tellería"),
    # a street-word surname after a title, with a number after it
    ("Sra. Plaza Gómez, 45 años, acude por tos.", "Plaza Gómez"),
    ("Fdo. Dr. Plaza 12/03/2020", "Plaza"),
    ("Responsable clínico: Dr. Paseo Gil, 12/03/2020", "Paseo Gil"),
    ("Valorada por el Dr. Ronda García 2 veces.", "Ronda García"),
    ("Paciente: Ana Ronda Gil 12-mar-2020", "Ana Ronda Gil"),
    # particles in upper-case forms
    ("NOMBRE MARIA DEL CAMINO", "MARIA DEL CAMINO"),
    ("Paciente: Plaza Gómez, Pilar 67 años", "Plaza Gómez, Pilar"),
    ("Responsable clínico: Urkiola Etxeberria, Unidad de Cardiología", "Urkiola Etxeberria"),
])
def test_names_that_look_like_other_things(text, name):
    assert covered(text, name, "NAME")


@pytest.mark.parametrize("text, date", [
    ("Dr. Juan Plaza García 12/03/2020", "12/03/2020"),
    ("Firmado: Dr. Luis Camino Ruiz 3/4/20", "3/4/20"),
    ("Doña Camino Torres 12/03/2020", "12/03/2020"),
])
def test_a_date_after_a_name_is_not_a_house_number(text, date):
    assert covered(text, date, "FECHA")


@pytest.mark.parametrize("text, street", [
    ("Vive en Avinguda d'Aragó 5, 46010 València.", "Avinguda d'Aragó 5, 46010"),
    ("Vive en c/ de l'Horta 7 - 2ª, 46800 Xàtiva.", "c/ de l'Horta 7 - 2ª, 46800"),
    ("Carrer de l'Hospital 12, 46001 Valencia", "Carrer de l'Hospital 12"),
])
def test_streets_with_elided_articles(text, street):
    assert covered(text, street, "DIR")



@pytest.mark.parametrize("text, name", [
    ("Remitido por: Dra. Lucía Ferrer Ibáñez Residente de 3er año de Neumología.", "Lucía Ferrer Ibáñez"),
    ("Remitido por: Dr. Ravindrakumar, MDS Reader, Department of Oral Surgery.", "Ravindrakumar"),
    ("Remitido por: Dra. Elena Prieto Soler Supervisora de la Unidad de Diálisis.", "Elena Prieto Soler"),
    ("Remitido por: Rosa Lemos Viñas Departamento de Histología. Universidad de León.", "Rosa Lemos Viñas"),
    ("Médico: Irene Costa NavarroNºCol: 28 28 40112.", "Irene Costa Navarro"),
    ("medico: irene costa navarronocol: 28 28 40112.", "irene costa navarro"),
])
def test_a_role_after_a_name_ends_the_name_span(text, name):
    a = text.index(name)
    names = [(s.start, s.end) for s in find_phi(text) if s.category == "NAME"]
    assert (a, a + len(name)) in names, names
    role = re.compile(r"[^\W\d_]+").search(text, a + len(name)).start()  # the word after the name is no name
    assert not any(x <= role < y for x, y in names), names


@pytest.mark.parametrize("text, word", [
    ("Informe clínico del paciente: Lactante de once meses con fiebre.", "Lactante"),
    ("Informe clínico del paciente: Presentamos el caso de una mujer de 40 años.", "Presentamos"),
])
def test_a_section_title_with_paciente_is_no_name_header(text, word):
    a = text.index(word)
    assert not any(s.start <= a < s.end and s.category == "NAME" for s in find_phi(text))


@pytest.mark.parametrize("text, name", [
    ("Datos del paciente: Wenceslao Otxoa Ibarguren, 45 años.", "Wenceslao Otxoa Ibarguren"),
    ("Identificación del paciente: Yurena Tabares Quesada.", "Yurena Tabares Quesada"),
])
def test_other_headers_ending_in_del_paciente_still_name_the_patient(text, name):
    assert covered(text, name, "NAME")


@pytest.mark.parametrize("text, age", [
    ("En la revisión el niño, con 15 meses de edad, camina sin ayuda.", "15 meses"),
    ("Fue valorada por primera vez a la edad de 6 meses por una masa cervical.", "6 meses"),
    ("Al cuarto mes de vida ingresa por bronquiolitis.", "cuarto mes"),
])
def test_ages_in_phrases_are_age_spans(text, age):
    a = text.index(age)
    assert (a, a + len(age), "EDAD_SUJETO_ASISTENCIA") in {(s.start, s.end, s.type) for s in find_phi(text)}


@pytest.mark.parametrize("text, what", [
    ("Informe clínico del paciente: Mujer ecuatoriana de 65 años, sin antecedentes.", "ecuatoriana"),
    ("Historia Actual: Varón de 49 años, peruano, con 10 años de residencia en España.", "peruano"),
    ("Niña de ocho años, de origen boliviano, que consulta por fiebre.", "boliviano"),
    ("Hombre de 52 años, de raza blanca, que consulta por tos.", "raza blanca"),
    ("Varón de 30 años de procedencia subsahariana y con angioedema.", "subsahariana"),
    ("Mujer de 29 años, soltera, vive con sus padres.", "soltera"),
    ("varón heterosexual de 30 años, con antecedentes de asma.", "heterosexual"),
    ("mujer caucasica de 56 anos, remitida a la consulta.", "caucasica"),
])
def test_the_patients_origin_and_marital_status_are_identifiers(text, what):
    """MEDDOCAN marks what the patient is beyond a name or a number as ID_SUJETO_ASISTENCIA (origin, people,
    marital status, sexual orientation); as written and lower-cased."""
    a = text.index(what)
    assert (a, a + len(what), "ID_SUJETO_ASISTENCIA") in {(s.start, s.end, s.type) for s in find_phi(text)}


@pytest.mark.parametrize("text, word", [
    ("Remitido por: Dr. Juan Casado López, Servicio de Neumología.", "Casado"),
    ("El fragmento quedó separado por una banda fibrosa.", "separado"),
    ("Se describe la raza de perro implicada en la mordedura.", "raza"),
])
def test_look_alike_words_are_not_patient_descriptors(text, word):
    a = text.index(word)
    assert not any(s.type == "ID_SUJETO_ASISTENCIA" and s.start <= a < s.end for s in find_phi(text))


@pytest.mark.parametrize("text, inst, street", [
    ("Remitido por: Dra. Ana Ruiz Gil Hospital de Alcorcón Carretera Toledo 28905 Alcorcón (Madrid).",
     "Hospital de Alcorcón", "Carretera Toledo"),
    ("Facultad de Medicina. Universidad de Granada Boulevard Louis Pasteur, 32. 29071 Granada.",
     "Universidad de Granada", "Boulevard Louis Pasteur, 32"),
    ("facultad de medicina. universidad de granada boulevard louis pasteur, 32. 29071 granada.",
     "universidad de granada", "boulevard louis pasteur, 32"),
])
def test_a_street_word_after_an_institution_starts_the_street(text, inst, street):
    spans = {(text[s.start:s.end], s.type) for s in find_phi(text)}
    assert any(t == inst and ty in ("HOSPITAL", "INSTITUCION", "CENTRO_SALUD") for t, ty in spans), spans
    assert (street, "CALLE") in spans, spans



def test_two_pieces_of_one_institution_joined_by_a_hyphen_are_one_span():
    from covidbank.nlp.deid import _boundary_fixes

    text = "Complejo Hospitalario La Rioja-Centro Avenida de la Paz 13"
    a, h, b = 0, text.index("-"), text.index(" Avenida")
    assert _boundary_fixes(text, [(a, h, "HOSPITAL"), (h + 1, b, "HOSPITAL")]) == [(a, b, "HOSPITAL")]
    # other types side by side stay apart, and so do dates ("2019-2020")
    assert _boundary_fixes(text, [(a, h, "HOSPITAL"), (h + 1, b, "TERRITORIO")]) == [(a, h, "HOSPITAL"), (h + 1, b, "TERRITORIO")]
    assert _boundary_fixes("2019-2020", [(0, 4, "FECHAS"), (5, 9, "FECHAS")]) == [(0, 4, "FECHAS"), (5, 9, "FECHAS")]


def test_a_glued_number_label_is_cut_but_a_surname_that_looks_like_one_is_not():
    from covidbank.nlp.deid import _boundary_fixes

    for text, end in (("Marta Ortega MartínezNºCol", 21), ("marta ortega martineznocol", 21),
                      ("juan carlos moreno collado", 26), ("Ana Nocolau Pérez", 17)):
        assert _boundary_fixes(text, [(0, len(text), "NOMBRE_PERSONAL_SANITARIO")]) == [(0, end, "NOMBRE_PERSONAL_SANITARIO")]


@pytest.mark.parametrize("text,name", [
    ("datos del paciente: xiomara quisbert mamani", "xiomara quisbert mamani"),
    ("paciente: rosa ti wong\nedad: 70 anos", "rosa ti wong"),
    ("nombre: maria nwankwo okafor, 45 anos", "maria nwankwo okafor"),
])
def test_lower_cased_patient_field_keeps_unknown_surnames(text, name):
    """A patient's name field in lower-cased text runs on over surnames no gazetteer knows (foreign, indigenous);
    it stops at a common or clinical word."""
    from covidbank.nlp import find_phi

    spans = [text[s.start:s.end] for s in find_phi(text)]
    assert name in spans
    prose = "paciente: maria refiere dolor toracico"
    assert [prose[s.start:s.end] for s in find_phi(prose)] == ["maria"]


def test_a_numeric_header_value_ends_before_the_next_key_and_an_address_is_its_own_span():
    """'Teléfono: <number> <address> Financiación: ...' was one e-mail span running on into the funding line; the
    value ends before the next key (not after its number: a name after an id is the patient's, see
    tests/nlp/test_deid_leaks.py)."""
    t = ("Responsable clínico: Dr. Tomás Ibarra Luna. Ciudad de México. Teléfono: 55123456 tibarra_l@correo.mx "
         "Financiación: Ninguna Conflictos de interés: No declarados")
    spans = [(t[s.start:s.end], s.type) for s in find_phi(t)]
    assert ("55123456", "NUMERO_TELEFONO") in spans and ("tibarra_l@correo.mx", "CORREO_ELECTRONICO") in spans
    assert not any("Financiación" in s for s, _ in spans)
    # the rules alone too; a code of letters after its key is left as it was
    rules = [t[s.start:s.end] for s in find_phi(t, model=False)]
    assert any("55123456" in s for s in rules) and not any("Financiación" in s for s in rules)
    c = "Código: ABX Paciente"
    assert [c[s.start:s.end] for s in find_phi(c, model=False)] == ["ABX Paciente"]


def test_an_email_span_is_the_whole_address_not_a_footnote_mark_glued_after_it():
    """The tagger cut 'ana@x.ej-gv.eus' at the last dot and tagged '.eus 2Médica adjunta' as a second address."""
    t = ("Remitido por: Dra. Lucía Ferrer Soto. Servicio de Nefrología. Correo electrónico: "
         "lferrer.ns@osakidetza.eus 2Médica adjunta. Especialista en Nefrología.")
    spans = [(t[s.start:s.end], s.type) for s in find_phi(t)]
    emails = [s for s, typ in spans if typ == "CORREO_ELECTRONICO"]
    # one span, the whole address (the header value runs on to the sentence end: removing more, never less)
    assert len(emails) == 1 and emails[0].startswith("lferrer.ns@osakidetza.eus")
    assert "osakidetza" not in deidentify(t).text and "Especialista en Nefrología" in deidentify(t).text


def test_a_number_the_tagger_calls_a_date_is_typed_by_its_key_or_dropped_before_a_unit():
    """Numbers joined by hyphens that cannot be a date (a 9-digit group, five groups) take their key's type, and
    amounts before a unit are no PHI; real dates written the same way stay dates."""
    t = "Remitido por: Dr. Pablo Nieto Rey. C/ Mayor, 3 36002 Pontevedra Tfno. 34-600112233 E-mail: pnieto@correo.es"
    assert ("34-600112233", "NUMERO_TELEFONO") in [(t[s.start:s.end], s.type) for s in find_phi(t)]
    t = "Apellidos: Vidal Romero.\nNHC: 01234567/21.\nNSS: 12-34-56-7890-1.\nDomicilio: Calle Sol 4."
    assert ("12-34-56-7890-1", "ID_ASEGURAMIENTO") in [(t[s.start:s.end], s.type) for s in find_phi(t)]
    t = "El débito por la ostomía era al inicio de 1500-2000 ml/día y al alta de 800-1000 ml/día."
    assert find_phi(t) == []
    t = "Ingresó el 12-03-2019 y de nuevo en 3/2015."
    assert [(t[s.start:s.end], s.type) for s in find_phi(t)] == [("12-03-2019", "FECHAS"), ("3/2015", "FECHAS")]


def test_an_age_of_the_tagger_without_a_number_or_an_age_word_is_dropped():
    """After the section title the tagger read a finding as the patient's age; written-out ages stay ages."""
    t = "Informe clínico del paciente: Paciente con labio leporino y fisura palatina bilateral."
    assert find_phi(t) == []
    t = "Paciente de siete años con fiebre."
    assert [(t[s.start:s.end], s.type) for s in find_phi(t)] == [("siete años", "EDAD_SUJETO_ASISTENCIA")]


@pytest.mark.parametrize("text, given", [
    ("NHC: 12345678 GARCIA LOPEZ, MARIA\nRx tórax: sin hallazgos.", "MARIA"),
    ("Paciente con NHC 12345678 GARCIA LOPEZ, MARIA, de 45 años.", "MARIA"),
    ("paciente: garcia lopez, maria\nrx torax sin hallazgos", "maria"),
    ("Solicitante: MARTINEZ RUIZ, JOSE ANTONIO\nRx tórax PA.", "JOSE"),
    ("Solicitante: MARTINEZ RUIZ, JOSE ANTONIO\nRx tórax PA.", "ANTONIO"),
    ("Paciente: Sánchez Gil, María del Carmen. Rx de tórax.", "Carmen"),
])
def test_given_names_after_surnames_and_a_comma_are_removed(text, given):
    """The hospital form "SURNAMES, GIVEN NAMES": the given names after an id header's run-on or a lower-cased
    name were left in the text (the privacy review's "garcia lopez, maria")."""
    out = deidentify(text).text
    assert not re.search(rf"\b{given}\b", out), out
    assert re.search(r"hallazgos|t[oó]rax|años", out), out


def test_given_names_take_the_type_of_the_surnames_before_them():
    t = "Se comenta con Dr. Martínez Ruiz, José Antonio, que indica ingreso."
    spans = {t[s.start:s.end]: s.type for s in find_phi(t)}
    assert spans.get("José Antonio") == spans.get("Martínez Ruiz") == "NOMBRE_PERSONAL_SANITARIO"


@pytest.mark.parametrize("text", ["Derrame pleural, dolores torácicos y fiebre.",
                                  "Derrame pleural derecho, Pilar del diafragma normal."])
def test_a_comma_before_a_given_name_word_alone_is_no_name(text):
    assert [text[s.start:s.end] for s in find_phi(text)] == []


@pytest.mark.parametrize("text, street", [
    ("Doctor Vertiz 737 interior 35", "Doctor Vertiz 737 interior 35"),
    ("Responsable clínico: Dra. Teresa Sada Ovalle Doctor Vertiz 737 interior 35 Colonia Narvarte.",
     "Doctor Vertiz 737 interior 35"),
    ("Remitido por: Doctor Lucio 120 interior 4, Colonia Doctores, México.", "Doctor Lucio 120 interior 4"),
    ("El paciente vive en Doctor Fleming 12 interior 3.", "Doctor Fleming 12 interior 3"),
    ("Hospital Gregorio Marañón. Doctor Esquerdo, 46, 28007 Madrid.", "Doctor Esquerdo, 46"),
])
def test_a_street_named_after_a_doctor_is_a_street_with_its_number_and_interior(text, street):
    """A bare "Doctor <Surname> 737 interior 35" left "737 interior 35" in the text (only the surname was a name)."""
    spans = [(text[s.start:s.end], s.type) for s in find_phi(text)]
    assert (street, "CALLE") in spans
    assert not re.search(r"\d", deidentify(text).text)


@pytest.mark.parametrize("text, kept", [
    ("Revisado por el Dr. Pérez 2 días después.", "2 días después"),
    ("Valorada por la Dra. Gil, 45 años de experiencia.", "45 años de experiencia"),
    ("Remitido por: Dr. Juan Gómez Ruiz. Servicio de Cardiología.", "Servicio de Cardiología"),
])
def test_a_doctors_name_before_a_count_or_a_duration_is_no_street(text, kept):
    out = deidentify(text).text
    assert kept in out and "[DIR]" not in out


@pytest.mark.parametrize("text, street", [
    ("Remitido por: Dra. Ana Ruiz. Av. Reforma 222 int. 5, Colonia Juárez, México.", "Av. Reforma 222 int. 5"),
    ("Correspondencia: Insurgentes Sur 1582 interior 4, Colonia Crédito Constructor, México.",
     "Insurgentes Sur 1582 interior 4"),
])
def test_the_interior_number_after_a_house_number_is_part_of_the_street(text, street):
    """The interior ("int. 5") after a street's house number was left in the text; a Mexican street written
    without a street word but with its interior number was not found at all."""
    assert (street, "CALLE") in [(text[s.start:s.end], s.type) for s in find_phi(text)]
    assert not re.search(r"\d", deidentify(text).text)


def test_an_abbreviation_inside_a_street_name_does_not_end_the_street():
    """'C/ Ntra. Sra. del Pilar 8 1ºB' was cut at 'Sra.', whose name rule took 'del Pilar' and left '8 1ºB'."""
    t = "Remitido por: Dra. Elena Vidal C/ Ntra. Sra. del Pilar 8 1ºB; 50003 Zaragoza E-mail: evidal@unizar.es"
    assert not re.search(r"\d|Pilar", deidentify(t).text)


@pytest.mark.parametrize("text, name", [
    ("fecha de ingreso: 02/03/2019.\nmedico: okonkwoadebayo.\nhistoria actual: varon de 40 anos.", "okonkwoadebayo"),
    ("medico: tsering\nnhc: 1234", "tsering"),
    ("nombre: xochitl.\napellidos: tlapalcoyotl quispe.\nnhc: 1234", "tlapalcoyotl quispe"),
])
def test_a_lower_cased_name_field_whose_whole_line_is_unknown_words_is_a_name(text, name):
    """In lower-cased text a doctor's field with a name the gazetteers do not know was left in the text."""
    assert name in [text[s.start:s.end] for s in find_phi(text) if s.category == "NAME"]


@pytest.mark.parametrize("text", ["medico: urgencias\nnhc: 1234", "medico: servicio de neumologia.\nrx de torax."])
def test_a_lower_cased_doctor_field_naming_a_department_is_no_name(text):
    assert not [s for s in find_phi(text) if s.category == "NAME"]


@pytest.mark.parametrize("text, dates", [
    ("Fue operado en 2010 y 2012 en otro centro.", ["2010", "2012"]),
    ("Las revisiones de 2015 a 2018 fueron normales.", ["2015", "2018"]),
    ("La enfermedad progresó desde marzo de 2019 a enero de 2020 sin tratamiento.", ["marzo de 2019", "enero de 2020"]),
])
def test_two_dates_joined_by_a_conjunction_are_two_dates(text, dates):
    """The tagger joined "2010 y 2012" into one date; MEDDOCAN marks each (no date of its train split holds a
    conjunction)."""
    assert [text[s.start:s.end] for s in find_phi(text) if s.type == "FECHAS"] == dates


@pytest.mark.parametrize("text, dates", [
    ("Ingresó los días 1 y 2 de marzo de 2020.", ["1", "2 de marzo de 2020"]),
    ("Recibió dosis los días 3, 4 y 5 de mayo.", ["3", "4", "5 de mayo"]),
])
def test_a_day_before_another_day_of_a_month_is_a_date(text, dates):
    """"los días 1 y 2 de marzo" left the day "1" in the text."""
    assert [text[s.start:s.end] for s in find_phi(text) if s.type == "FECHAS"] == dates
    assert not re.search(r"\d", deidentify(text).text)


def test_counts_joined_by_a_conjunction_are_no_dates():
    assert find_phi("Tomaba 1 o 2 comprimidos de paracetamol y 3 y 4 sobres al día.") == []


@pytest.mark.parametrize("text, name, kept", [
    ("Remitido por: Dra. Lucía Ferrer Soto Coordinadora Unidad de Diálisis DIAVERUM. Badajoz", "Lucía Ferrer Soto",
     "Coordinadora"),
    ("Responsable clínico: Dr. Iñaki Etxeberria Larrañaga Jefe Servicio de Nefrología HUCA. Oviedo",
     "Iñaki Etxeberria Larrañaga", "Jefe"),
    ("remitido por: dr. pablo nieto rey adjunto servicio de urologia. hospital de jerez.", "pablo nieto rey", "adjunto"),
])
def test_a_role_after_a_name_ends_the_taggers_name_span(text, name, kept):
    """The tagger ran a doctor's name on into the role after it ("Lucía Ferrer Soto Coordinadora")."""
    names = [text[s.start:s.end] for s in find_phi(text) if s.category == "NAME"]
    assert names == [name]
    assert kept in deidentify(text).text


@pytest.mark.parametrize("text, street", [
    ("responsable clinico: dra. ana gil doctor vertiz 737 interior 35 colonia narvarte.", "doctor vertiz 737 interior 35"),
    ("Responsable clínico: Dra. Ana Gil Doctor Vertiz 737 interior 35 Colonia Narvarte.", "Doctor Vertiz 737 interior 35"),
    ("hospital gregorio maranon. dr esquerdo 46, 28007 madrid.", "dr esquerdo 46"),
])
def test_a_street_named_after_a_doctor_after_a_doctors_name_in_any_case(text, street):
    spans = [(text[s.start:s.end], s.type) for s in find_phi(text)]
    assert (street, "CALLE") in spans
    assert not re.search(r"\d", deidentify(text).text)


def test_visits_counted_after_a_lower_cased_doctors_name_are_no_street():
    assert "3 veces" in deidentify("visto por el dr perez 3 veces.").text


def test_a_phone_key_the_tagger_put_into_a_street_gives_phone_numbers():
    """The tagger read "Tfno. 959 201 300 y 959 201 301" as one street."""
    t = "Correspondencia: Unidad de Cirugía. Av. del Puerto 12. Huelva. Tfno. 959 201 300 y 959 201 301."
    spans = [(t[s.start:s.end], s.type) for s in find_phi(t)]
    assert ("959 201 300", "NUMERO_TELEFONO") in spans and ("959 201 301", "NUMERO_TELEFONO") in spans
    assert not re.search(r"\d", deidentify(t).text)


@pytest.mark.parametrize("text, fraction", [
    ("AV de 20/100 en ojo derecho (OD) y 20/200 (-6,50 -5,50 x 20º) en ojo izquierdo.", "20/200"),
    ("Anticuerpos positivos a título 1/1000.", "1/1000"),
])
def test_a_fraction_the_tagger_calls_a_date_with_no_key_before_it_is_dropped(text, fraction):
    """The tagger called a visual acuity ("20/200") a date; a fraction with a three- or four-digit group and no
    key before it is no date and no identifier.  (Given as the tagger's span: the shipped model does not make
    this error on generated text.)"""
    from covidbank.nlp.deid import _clean_model_spans

    a = text.index(fraction)
    assert _clean_model_spans(text, [(a, a + len(fraction), "FECHAS")]) == []
    t = "Tfno: 956/013059"
    assert _clean_model_spans(t, [(6, 16, "FECHAS")]) == [(6, 16, "NUMERO_TELEFONO")]


@pytest.mark.parametrize("text, span, kept", [
    ("En el control realizado luego de 6 años, la paciente está bien.", "6 años", False),
    ("Se mantuvo la función en un periodo de 6 años.", "6 años", False),
    ("Desde hace 2 años refiere disnea.", "2 años", False),
    ("Paciente de 6 años que acude por fiebre.", "6 años", True),
    ("Varón de 45 años tras un accidente.", "45 años", True),
])
def test_a_span_of_time_the_tagger_calls_an_age_is_dropped(text, span, kept):
    """The tagger called "luego de 6 años" an age; no age of MEDDOCAN train follows "tras", "luego de",
    "periodo de", "hace" ... (given as the tagger's span: the shipped model does not make this error here)."""
    from covidbank.nlp.deid import _clean_model_spans

    a = text.index(span)
    got = _clean_model_spans(text, [(a, a + len(span), "EDAD_SUJETO_ASISTENCIA")])
    assert got == ([(a, a + len(span), "EDAD_SUJETO_ASISTENCIA")] if kept else [])


@pytest.mark.parametrize("text, span, kept", [
    ("Paciente de origen subsahariano que acude a Urgencias.", "origen subsahariano", False),
    ("Paciente de origen ecuatoriano que acude a Urgencias.", "origen ecuatoriano", False),
    ("Recién nacida de 3 días de vida.", "3 días", True),
    ("Recién nacida con ictericia.", "Recién nacida", True),
    ("Paciente de siete años con fiebre.", "siete años", True),
])
def test_an_age_word_must_start_a_word_of_the_taggers_age(text, span, kept):
    """The tagger called "origen subsahariano" an age, kept because "subsahariano" holds "ano" (given as the
    tagger's span)."""
    from covidbank.nlp.deid import _clean_model_spans

    a = text.index(span)
    got = _clean_model_spans(text, [(a, a + len(span), "EDAD_SUJETO_ASISTENCIA")])
    assert got == ([(a, a + len(span), "EDAD_SUJETO_ASISTENCIA")] if kept else [])


def test_a_place_and_its_postcode_in_one_territory_span_are_two():
    """MEDDOCAN marks a postcode apart from the town ("San Lucas Coyoacán 04030" was one span)."""
    from covidbank.nlp.deid import _boundary_fixes

    t = "Col. San Lucas Coyoacán 04030 México"
    z = t.index("04030")
    assert _boundary_fixes(t, [(0, z + 5, "TERRITORIO")]) == [(0, z - 1, "TERRITORIO"), (z, z + 5, "TERRITORIO")]
    t = "46010 Valencia"
    assert _boundary_fixes(t, [(0, 14, "TERRITORIO")]) == [(0, 5, "TERRITORIO"), (6, 14, "TERRITORIO")]
    assert _boundary_fixes("Valencia", [(0, 8, "TERRITORIO")]) == [(0, 8, "TERRITORIO")]
    assert _boundary_fixes("E 28053 Madrid", [(0, 7, "TERRITORIO")]) == [(0, 7, "TERRITORIO")]


@pytest.mark.parametrize("text", ["C/ Vicente García Torres Nº 46 Col. San Lucas Coyoacán",
                                  "c/ vicente garcia torres no 46 col. san lucas coyoacan"])
def test_a_colonia_label_at_the_end_of_a_street_starts_the_place_after_it(text):
    from covidbank.nlp.deid import _boundary_fixes

    c = text.lower().index(" col.")
    p = text.lower().index("san lucas")
    assert _boundary_fixes(text, [(0, c + 4, "CALLE"), (p, len(text), "TERRITORIO")]) == [
        (0, c, "CALLE"), (c + 1, len(text), "TERRITORIO")]


def test_complejo_hospitalario_before_a_hospital_is_the_hospitals():
    from covidbank.nlp.deid import _boundary_fixes

    t = "Servicio de Ginecología Complejo Hospitalario Hospital General de Segovia Carretera de Ávila"
    a, h, b = t.index("Complejo"), t.index("Hospital General"), t.index(" Carretera")
    assert _boundary_fixes(t, [(h, b, "HOSPITAL")]) == [(a, b, "HOSPITAL")]


def test_the_plus_of_an_international_prefix_is_not_part_of_the_number():
    """MEDDOCAN leaves the plus out of a phone or fax number ("FAX: + 34- 963864175" -> "34- 963864175")."""
    from covidbank.nlp.deid import _boundary_fixes

    t = "Valencia 46010 FAX: + 34- 963864175 E-mail: ana@uv.es"
    a, b = t.index("+"), t.index(" E-mail")
    assert _boundary_fixes(t, [(a, b, "NUMERO_FAX")]) == [(a + 2, b, "NUMERO_FAX")]
    t = "Tfno.+34679802102"
    assert _boundary_fixes(t, [(5, 17, "NUMERO_TELEFONO")]) == [(6, 17, "NUMERO_TELEFONO")]
    assert "34679802102" not in deidentify(t).text


def test_a_hospitals_acronym_is_a_hospital_and_a_company_no_place():
    """"HUCA" (a hospital's acronym) was typed an institution; a company the tagger calls a place is an institution."""
    from covidbank.nlp.deid import _clean_model_spans

    t = "Servicio de Neumología (HUCA), Oviedo."
    assert ("HUCA", "HOSPITAL") in [(t[s.start:s.end], s.type) for s in find_phi(t)]
    t = "Doxiciclina 100 mg (Vibracina 100, Pfizer, Madrid)."
    a = t.index("Pfizer")
    assert _clean_model_spans(t, [(a, a + 6, "TERRITORIO")]) == [(a, a + 6, "INSTITUCION")]
    a = t.index("Madrid")
    assert _clean_model_spans(t, [(a, a + 6, "TERRITORIO")]) == [(a, a + 6, "TERRITORIO")]


def test_lower_cased_street_words_and_floors_join_the_taggers_street():
    """In lower-cased, accent-stripped text "av." before a street and "3oc" (3ºC) after its number were left out."""
    from covidbank.nlp.deid import _boundary_fixes

    t = "servicio de digestivo (chuac) av. as xubias, 84 15006 a coruna"
    a, b = t.index("as xubias"), t.index(" 15006")
    assert _boundary_fixes(t, [(a, b, "CALLE")]) == [(t.index("av."), b, "CALLE")]
    t = "dr. daniel torres c/ sta ma valverde 2 3oc; 41008 sevilla"
    a, b = t.index("c/"), t.index(" 3oc") + 2
    assert _boundary_fixes(t, [(a, b, "CALLE")]) == [(a, b + 2, "CALLE")]


@pytest.mark.parametrize("text", [
    "servicio de urologia hospital universitario doctor peset gaspar aguilar 90 46017 valencia.",
    "Servicio de Urología Hospital Universitario Doctor Peset Gaspar Aguilar 90 46017 Valencia.",
])
def test_a_hospital_named_after_a_doctor_is_no_street(text):
    from covidbank.nlp.deid import find_phi_rules

    assert not [s for s in find_phi_rules(text) if text[s.start:s.end].lower().startswith("doctor")]


def test_a_taggers_street_with_a_phone_key_keeps_what_is_not_a_number():
    from covidbank.nlp.deid import _clean_model_spans

    t = "Tfno. 959 201 300 C/ Mayor 5."
    assert _clean_model_spans(t, [(0, len(t) - 1, "CALLE")]) == [(0, len(t) - 1, "CALLE")]
    t = "Tfno. 959 201 300 y 959 201 301."
    assert _clean_model_spans(t, [(0, len(t) - 1, "CALLE")]) == [(6, 17, "NUMERO_TELEFONO"), (20, 31, "NUMERO_TELEFONO")]
