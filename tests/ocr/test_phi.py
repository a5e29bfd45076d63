"""The PHI decision on OCR text: deny-list (exact, OCR confusions, edit distance), patterns and the allow-list."""
from __future__ import annotations

import pytest

from covidbank.dicom.denylist import DenyList
from covidbank.ocr.detect import TextLine
from covidbank.ocr.engine import Word
from covidbank.ocr.phi import AllowList, approx_find, classify_lines


def _deny() -> DenyList:
    dl = DenyList()
    dl.add("GARCIA LOPEZ^MARIA", "name", "PatientName")
    dl.add("99887766", "id", "PatientID")
    dl.add("20200315", "date", "StudyDate")
    dl.add("HOSPITAL GENERAL DE VALENCIA", "institution", "InstitutionName")
    return dl


def _line(*words: str, conf: float = 90.0) -> TextLine:
    ws, x = [], 10
    for w in words:
        ws.append(Word(x, 10, 10 * len(w), 12, conf, w))
        x += 10 * len(w) + 8
    return TextLine((10, 10, x - 18, 12), "bright", 0.9, ws)


@pytest.mark.parametrize("words, cats", [
    (("GARCIA", "LOPEZ", "MARIA"), {"name"}),
    (("GARCIATÓPEZ", "MARÍA]"), {"name"}),          # merged words, accent, one wrong letter
    (("NHC", "99887766"), {"id", "long_number", "labelled_value"}),
    (("NHC:", "9988T766"), {"id"}),                  # OCR read 7 as T
    (("99", "887", "766"),  {"id"}),                  # spaced digits
    (("15/03/2020",), {"date", "date_pattern"}),
    (("15-3-20",), {"date", "date_pattern"}),
    (("15/O3/2O2O",), {"date"}),                      # O for 0
    (("HOSPITAL", "GENERAL", "DE", "VALENCIA"), {"institution"}),
    (("Paciente:", "Juan"), {"labelled_value"}),     # a name the header does not know: the label gives it away
    (("Dr.", "Ramirez"), {"labelled_value"}),
    (("03/07/1999",), {"date_pattern"}),              # a date the header does not know
    (("1234567",), {"long_number"}),
])
def test_phi_lines(words, cats):
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load())
    assert f.kind == "phi"
    assert cats <= set(f.categories), f.categories


@pytest.mark.parametrize("words", [("L",), ("R",), ("PA",), ("AP", "SEMI", "ERECT"), ("PORTABLE",), ("Portátil",),
                                   ("SUPINE",), ("DECUBITUS",), ("80kVp",), ("2.5", "mAs"), ("->",), ("INSP",), ("12",),
                                   ("EREC",), ("SEMISEDUTO",), ("Page:", "1", "of", "1")])
def test_allow_list_keeps_radiograph_markers(words):
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load())
    assert f.kind == "allowed" and f.categories == ()


def test_unknown_text_is_flagged_and_noise_is_not():
    unknown, noise, low = classify_lines([_line("CARDIOLOGIA"), _line("ee"), _line("Wxqz", conf=20)], _deny(),
                                         AllowList.load())
    assert unknown.kind == "unknown"
    assert noise.kind == "noise" and low.kind == "noise"


def test_near_misses_are_not_phi():
    # other numbers than the id are not the id; a short name word is not matched by another word one edit away
    (a, b) = classify_lines([_line("MARTA"), _line("99112233")], _deny(), AllowList.load())
    assert "name" not in a.categories  # MARTA is a name too: one free edit in a 5-letter word matches too much
    assert "id" not in b.categories and "long_number" in b.categories
    (c,) = classify_lines([_line("MOBILE")], _deny(), AllowList.load())
    assert c.kind == "allowed"


def _short_deny() -> DenyList:
    dl = DenyList()
    dl.add("BROWN SMITH^MARY", "name", "PatientName")
    return dl


@pytest.mark.parametrize("words", [("Mary",), ("BR0WN",), ("SMlTH",), ("Srnith",), ("Brovvn",), ("BRO", "WN"),
                                   ("MARYBROWN", "SMITH"), ("brown,smith^mary",), ("5MITH",)])
def test_short_name_words_match_up_to_ocr_lookalikes(words):
    # 4-5 letter name words: exact after folding OCR's look-alike characters (1/l/i, 5/s, rn/m, vv/w ...), split
    # by a space OCR inserted, or written together with other words of the name
    (f,) = classify_lines([_line(*words)], _short_deny(), AllowList.load())
    assert "name" in f.categories, words


@pytest.mark.parametrize("words", [("Summary",), ("Marx",), ("SMITHS", "law"), ("Snith",), ("Crown",), ("Maryland",)])
def test_short_name_words_are_not_matched_by_ordinary_words_one_edit_away(words):
    # the false positives of the fuzzy match on clean X-rays: real captions one edit from a short name word
    (f,) = classify_lines([_line(*words)], _short_deny(), AllowList.load())
    assert "name" not in f.categories, words


@pytest.mark.parametrize("words", [("15/03.",), ("03.20",), ("0315",), ("15", "20"), ("15-O3",), ("1503,", "2O",),
                                   ("1S0320",)])
def test_date_fragments_of_the_instance_dates_are_phi(words):
    # OCR lost one field of the study date 15/03/2020 (or misread one digit of its six-digit form): two fields
    # of the instance's own date read together still identify it
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load())
    assert "date" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("AP", "ERE@5MAR-2020"), ("5MAR2O20",), ("marzo", "15,", "202O")])
def test_a_misread_date_written_with_its_month_name_is_the_instance_date(words):
    # a day lost or a digit misread in "15-MAR-2020": the month word counts as its number (a bench miss, the date
    # glued to a marker and its day read as one digit)
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert "date" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("15-MAR-",), ("AP", "15-MAR-2", "Pte"), ("Mar", "15,", "W:", "202M", "4096"),
                                   ("MAR", "15th")])
def test_the_day_and_month_word_of_an_instance_date_are_the_date_when_its_year_is_lost(words):
    # bench misses (fresh tune seed 5): "12-JUL-2021" read "12-JUL-" and "12-JUL- Pte" (the year fused with the
    # anatomy), "May 10, 2021" read "May 10, W: 202M" (a caption beside it); two of the date's fields, as in digits
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert "date" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("15", "de", "\u2018marzo", "de'2029", "|"), ("15", "de", "'marzo"),
                                   ("15", "\u201cMAR\u201d", "2020")])
def test_quote_marks_read_between_the_fields_of_a_month_word_date_do_not_hide_it(words):
    # a bench miss (fresh tune seed 19): "17 de febrero de 2019" read "17 de" + "\u2018febrero" + "de'2049 |",
    # the quote mark between the day and the month word kept them apart
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert "date" in f.categories, (words, f.categories)
    (g,) = classify_lines([_line(*words)], None, AllowList.load())
    assert "date_pattern" in g.categories, (words, g.categories)  # a day and a month word, for any instance


@pytest.mark.parametrize("words", [("5erics", "'2019"), ("7", "Caso", "\u20182013")])
def test_quote_marks_are_separators_only_around_a_month_word(words):
    # the patterns of a day, any word and a year (a month word misread) take the text as read: a stray quote made
    # "5erics '2019" (a caption's "Series 2019") a day, a word and a year, on random harmless lines
    (g,) = classify_lines([_line(*words)], None, AllowList.load())
    assert "date_pattern" not in g.categories, (words, g.categories)


@pytest.mark.parametrize("words, expected", [(("is.", ".03.,", ".20"), True), (("is", "-", "03", "-", "2020"), True),
                                             (("iz.", ".03.,", ".20"), False), (("Fig", "is.", "3"), False),
                                             (("AP", "io.", "03"), False), (("WL", "-503"), False)])
def test_a_day_read_as_letters_before_a_date_separator_is_the_instance_date(words, expected):
    # a bench miss (fresh tune seed 19): "12.03.21" 30 px high read "iz." ".03.," ".21"; a one- or two-letter word
    # just before a separator and a number is read with its look-alike digits, for the instance's own dates only
    # (here 15 March 2020: "is." is 15, "iz." 12); a word not all of look-alikes is a word (a window's "WL -503" is
    # no "w1 -503", 15 03)
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert ("date" in f.categories) is expected, (words, f.categories)


@pytest.mark.parametrize("words, expected", [(("15/03/2(",), True), (("AP", "03/15/2", "x"), True),
                                             (("12/03/2(",), False), (("15/04/2(",), False)])
def test_two_fields_of_the_instance_date_are_the_date_when_ocr_lost_the_third(words, expected):
    # a bench miss (tune seed 3): "02/14/2019" read "02/14/2(", its year lost in the texture beside it
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert ("date" in f.categories) is expected, (words, f.categories)


@pytest.mark.parametrize("words, expected", [(("ID:", "ho887766"), True), (("87766",), True), (("8776",), False),
                                             (("88767",), False)])
def test_five_digits_in_a_row_of_the_instance_record_number_are_the_record_number(words, expected):
    # a bench miss (tune seed 3): "ID: 482097032" read "ho97032", its first digits read as letters
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert ("id" in f.categories) is expected, (words, f.categories)


@pytest.mark.parametrize("words, expected", [(("N\u00b0", "histona", "429\u00b0"), True),
                                             (("IY", "dustoria", "9U/", "/21190"), True),
                                             (("expedlente:", "77"), True), (("History", "2"), False),
                                             (("historic", "1918"), False), (("dustoria",), False),
                                             (("Histor", "2"), False), (("Historv", "58"), False),
                                             (("Histor1cal", "12"), False), (("historical", "1918"), False),
                                             (("Vitoria", "70", "kVp"), False), (("historia", "12"), True)])
def test_a_long_record_label_read_with_two_letters_wrong_before_a_number_is_a_label(words, expected):
    # bench misses (tune seeds 15 and 18): "N\u00ba historia 907721190" read "IY dustoria 9U/ /21190" and
    # "N\u00ba historia 429523419" read "N\u00b0 histona 429\u00b0": the label read in part, the number misread; any instance
    # a word nearer an ordinary word than the label is that word misread ("Histor 2" of a caption's "History 2")
    (f,) = classify_lines([_line(*words)], None, AllowList.load())
    assert ("labelled_value" in f.categories) is expected, (words, f.categories)


@pytest.mark.parametrize("words", [("16-MAR-",), ("Mar", "1024"), ("Mar", "15.5"), ("Mar", "1,5"), ("15", "APR"),
                                   ("MAY", "15")])
def test_another_day_or_month_word_is_not_the_instance_date(words):
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert "date" not in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("03/15/20",), ("4", "@3/15/20"), ("15/@3/2020",)])
def test_a_us_short_date_and_a_zero_read_as_an_at_sign_are_the_instance_date(words):
    # a bench miss (tune seed 17): "02/03/2021" (month first) read "4 @2/03/21"
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert "date" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("03/16/21",), ("@4/16/20",), ("03/15/19",)])
def test_other_short_dates_are_not_the_instance_date(words):
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert "date" not in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("de", "marzo-de", "2020"), ("marzo", "de", "2020"), ("March", "2020"),
                                   ("MAR.", "2020"), ("marzo,", "2020")])
def test_the_month_word_and_year_of_an_instance_date_are_the_date_when_its_day_is_lost(words):
    # a bench miss (tune seed 15): "16 de abril de 2019" read "de abril-de 2019" in the second reading, its day lost
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert "date" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("marzo", "de", "2019"), ("March", "2021"), ("abril", "de", "2020"),
                                   ("marzo", "20")])
def test_another_month_or_year_is_not_the_instance_date_when_the_day_is_lost(words):
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert "date" not in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("MAY", "2020"), ("5", "MAR"), ("AP", "ERECT", "PORTABLE", "2020")])
def test_month_words_alone_do_not_make_the_instance_date(words):
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert "date" not in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("2020",), ("1530",), ("16/04",), ("0316",), ("15", "30"), ("1024", "512")])
def test_other_numbers_are_not_date_fragments(words):
    # years alone (captions are full of them), and numbers that are not two fields of the instance's date
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load())
    assert "date" not in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("2", "de", "enero"), ("21", "de", "abril", "|"), ("April", "5,", "«"),
                                   ("7,", "1962"), ("el", "3", "de", "marzo")])
def test_partial_dates_are_phi(words):
    # a day with a month name (the year lost), or the ", YYYY" of "Month D, YYYY" (the month word lost)
    (f,) = classify_lines([_line(*words)], None, AllowList.load())
    assert "date_pattern" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("May", "5"), ("June", "3.5"), ("March", "5", "2", "mm")])
def test_month_like_words_with_numbers_are_not_partial_dates(words):
    (f,) = classify_lines([_line(*words)], None, AllowList.load())
    assert "date_pattern" not in f.categories, (words, f.categories)


def test_historia_labels_its_value():
    (f,) = classify_lines([_line("historia", "paket", "_2S10D")], None, AllowList.load())
    assert "labelled_value" in f.categories


def test_allow_list_is_data_and_can_be_extended(tmp_path):
    p = tmp_path / "site.txt"
    p.write_text("# site markers\nACME-DR\nre:sala\\d+\n", encoding="utf-8")
    al = AllowList.load(p)
    assert "acme-dr" in al and "SALA3" in al and "PORTABLE" not in al
    assert "PORTABLE" in AllowList.load()


def test_approx_find():
    assert approx_find("99887766", "nhc99887766x", 0)
    assert approx_find("99887766", "nhc9988766", 1)
    assert not approx_find("99887766", "nhc9911766", 1)


def test_patterns_can_be_left_out_for_the_second_reading():
    # the second reading matches the instance's deny-list only: a date the header does not hold is a pattern hit
    # of the first reading, nothing for the second
    line = _line("03/07/1999")
    (with_patterns,) = classify_lines([line], _deny(), AllowList.load())
    (deny_only,) = classify_lines([line], _deny(), AllowList.load(), patterns=False)
    assert with_patterns.kind == "phi" and deny_only.kind != "phi"
    (own,) = classify_lines([_line("15/03/2020")], _deny(), AllowList.load(), patterns=False)
    assert own.kind == "phi" and "date" in own.categories


@pytest.mark.parametrize("words", [("99", "887", "766"), ("912", "345", "678"), ("123", "456"), ("1", "234", "567"),
                                   ("1234567",), ("12.345.678",), ("123-456-789",), ("ID", "12345678-Z")])
def test_long_numbers_are_phi_written_together_or_grouped_in_threes(words):
    (f,) = classify_lines([_line(*words)], None, AllowList.load())
    assert "long_number" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("341", "2048"), ("Z:", "0,341", "2048"), ("1024", "512"), ("W", "40", "400", "2048"),
                                   ("12", "345")])
def test_numbers_side_by_side_are_not_one_long_number(words):
    # a real caption's window 'Z: 0,341 C; 2048' on a clean X-ray (the unsure 'C;' left out of the patterns' text)
    # read as the long number 341 2048
    (f,) = classify_lines([_line(*words)], None, AllowList.load())
    assert "long_number" not in f.categories, (words, f.categories)


def _july_deny() -> DenyList:
    dl = DenyList()
    dl.add("20200713", "date", "StudyDate")
    dl.add("19950703", "date", "PatientBirthDate")
    return dl


@pytest.mark.parametrize("words", [("13/07/2020",), ("13/0e/2020",), ("|13", "/", "07", "/", "2O2O"), ("13/07/2021",),
                                   ("2020-07-12",), ("2020-07-13", "14:22"), ("1307", "2020"), ("AP", "713/07/2020"),
                                   ("2020071",), ("03-O7-1995",), ("ID", "12345", "13/07/2021"),
                                   ("13", "JNL:2020", "SUPINE"), ("2020", "-", "13"), ("1370772020",), ("13", "de", "Jnlio", "2020"),
                                   ("13-'", "JUL-:", "2020"), ("13", "d@julio", "de", "2020"), ("13", "de", "i", "ulio", "de", "2020"),
                                   ("13", "de", "juli)", "ulio", "de", "2020"), ("2020-;", "jnl", "-13")])
def test_an_instance_date_matches_as_digits_of_its_own(words):
    # exactly, or within the OCR errors allowed (two edits of eight digits, one of seven), as a written number of
    # its own whatever separates its fields; its day and year around a month word misread (`JNL` of `JUL`) or
    # with the month lost (`2020 - 13`, spaced separators); its separators read as digits (`1370772020`)
    (f,) = classify_lines([_line(*words)], _july_deny(), AllowList.load(), patterns=False)
    assert "date" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("29/02/2020,", "RX", "01:35:05", "TORACE"), ("29/02/2020", "01:35:05"),
                                   ("20200317142231",), ("ID", "2020071499")])
def test_an_instance_date_does_not_match_part_of_a_longer_number_or_a_date_and_time(words):
    # a real caption's date and time on a clean X-ray, instance date 13 July 2020: all the digits of the line
    # ('29022020013505') held '2020013', that date's eight digits within one edit
    (f,) = classify_lines([_line(*words)], _july_deny(), AllowList.load(), patterns=False)
    assert "date" not in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("13", "AP", "2020"), ("Fig", "13.", "Chest", "X-ray", "series", "of", "the", "case,", "2020"), ("14", "JNL:2020")])
def test_a_day_and_a_year_are_no_instance_date_without_a_month_word_between(words):
    (f,) = classify_lines([_line(*words)], _july_deny(), AllowList.load(), patterns=False)
    assert "date" not in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("14/07/202010:22:31",), ("14.07.202010.22.31",), ("2020-07-1410:22",),
                                   ("2020-07-18T10:22:31",), ("1995-07-0510:22",), ("FECHA14/07/2021",)])
def test_an_instance_date_misread_and_glued_to_a_time_or_a_label_is_the_date(words):
    # a date with one digit misread and the time read without a space after it (`2020 10:22` read `202010:22`,
    # the `T` of an ISO time read `7`), or a label glued before it (`FECHA14` digitized `FECH414`): the extra
    # digits of the time or the label are no part of the date's groups
    (f,) = classify_lines([_line(*words)], _july_deny(), AllowList.load(), patterns=False)
    assert "date" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("29/02/202001:35:05",), ("2019.05.02",), ("2019.05.0210:22",), ("ID", "20200714990")])
def test_a_time_glued_to_another_date_or_a_number_is_not_the_instance_date(words):
    (f,) = classify_lines([_line(*words)], _july_deny(), AllowList.load(), patterns=False)
    assert "date" not in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("ID", "4937", "175"), ("N°", "73", "26", "01", "37"), ("Pat", "ID", "9029", "80670"),
                                   ("ID:", "31", "14", "967"), ("N°", "389", "96", "81")])
def test_a_number_split_by_spaces_after_a_record_label_is_a_long_number(words):
    # an id the header does not hold, grouped otherwise than in threes: the label makes its groups one number
    (f,) = classify_lines([_line(*words)], None, AllowList.load())
    assert f.kind == "phi" and "long_number" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("99", "8897", "7GG"), ("Z9BB", "7766")])
def test_a_record_number_group_read_mostly_as_letters_is_still_the_id(words):
    # `7GG` (one digit of three) stays letters for the line's digitizing: its look-alikes are undone for the id
    # match in any word holding a digit (the old generic long-number pattern had caught `99 8897 7`)
    (f,) = classify_lines([_line(*words)], _deny(), AllowList.load(), patterns=False)
    assert "id" in f.categories, (words, f.categories)


@pytest.mark.parametrize("words", [("Fecha:Z0Z0-07-13",), ("FECHAl3O7Z0Z0",)])
def test_an_instance_date_in_a_word_mostly_of_letters_is_the_date(words):
    # `Fecha:Z0Z0-07-13` is a word of more letters than digits, left undigitized for the line: the date's
    # look-alikes are undone in every run of letters and digits holding a digit
    (f,) = classify_lines([_line(*words)], _july_deny(), AllowList.load(), patterns=False)
    assert "date" in f.categories, (words, f.categories)
