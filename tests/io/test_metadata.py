"""Speaker metadata in the VoxCeleb formats as distributed, and generic CSV/TSV."""

from __future__ import annotations

import numpy as np
import pytest

from arwsv.errors import InputError
from arwsv.io.metadata import read_metadata

VOX1 = ("VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
        "id10001\tA.J._Buckley\tm\tIreland\tdev\n"
        "id10002\tA.R._Rahman\tm\tIndia\tdev\n"
        "id10003\tAamir_Khan\tm\tIndia\tdev\n"
        "id10004\tAaron_Tveit\tm\tUSA\tdev\n"
        "id10005\tAaron_Yoo\tm\tUSA\tdev\n"
        "id10270\tLuc_Besson\tm\tFrance\ttest\n"
        "id10309\tLéa_Seydoux\tf\tFrance\ttest\n")
VOX2 = ("VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set \n"
        "id00012 ,n000012 ,m ,dev \n"
        "id00015 ,n000015 ,f ,dev \n"
        "id00017 ,n000017 ,f ,test \n")


def test_vox1_meta(tmp_path):
    path = tmp_path / "vox1_meta.csv"
    path.write_text(VOX1, encoding="utf-8")
    meta = read_metadata(path)
    speakers = np.array(["id10309", "id10001", "id99999"], dtype=object)
    assert list(meta.values("gender", speakers)) == ["female", "male", ""]
    assert list(meta.values("Nationality", speakers)) == ["France", "Ireland", ""]
    assert list(meta.has(speakers)) == [True, True, False]


def test_vox2_meta_padded_header(tmp_path):
    path = tmp_path / "vox2_meta.csv"
    path.write_text(VOX2, encoding="utf-8")
    meta = read_metadata(path)
    assert list(meta.values("gender", ["id00017", "id00012"])) == ["female", "male"]
    assert meta.find("nationality") is None
    with pytest.raises(InputError, match="no column for 'nationality'"):
        meta.values("nationality", ["id00012"])


def test_generic_csv_with_aliases_and_latin1(tmp_path):
    path = tmp_path / "speakers.csv"
    path.write_bytes("speaker_id,Sex,Country,Age\nspk1,Female,Côte d'Ivoire,30\nspk2,MALE,Peru,41\n"
                     .encode("latin-1"))
    meta = read_metadata(path)
    assert list(meta.values("gender", ["spk1", "spk2"])) == ["female", "male"]
    assert list(meta.values("nationality", ["spk1", "spk2"])) == ["Côte d'Ivoire", "Peru"]
    assert list(meta.values("age", ["spk2"])) == ["41"]


def test_id_column_override(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("name\tspk\tgender\nAnn\ts1\tf\nBob\ts2\tm\n")
    assert list(read_metadata(path).values("gender", ["s2"])) == ["male"]  # 'spk' found by name
    path.write_text("name\tcode\tgender\nAnn\ts1\tf\nBob\ts2\tm\n")
    assert list(read_metadata(path, id_column="code").values("gender", ["s1"])) == ["female"]


@pytest.mark.parametrize("text,message,line", [
    ("id\tgender\nid1\tm\nid2\tf\nid1\tf\n", r"speaker id 'id1' appears twice \(first on line 2\)", 4),
    ("id\tGender\tgender \nid1\tm\tm\n", "duplicate column name", 1),
    ("", "file is empty", None),
    ("id\tgender\n\tm\n", "empty speaker id", 2),
])
def test_bad_metadata(tmp_path, text, message, line):
    path = tmp_path / "meta.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as err:
        read_metadata(path)
    assert err.value.path == str(path) and err.value.line == line


def test_alias_names_work_both_ways(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("id,Gender,Country\ns1,F,Peru\n")
    meta = read_metadata(path)
    assert list(meta.values("sex", ["s1"])) == ["female"]  # asked as 'sex', column named 'Gender'
    assert list(meta.values("nationality", ["s1"])) == ["Peru"]


def test_extra_field_on_first_data_row(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("id\tgender\nid1\tm\textra\nid2\tf\n")
    with pytest.raises(InputError, match="wrong number of columns: 3, expected 2") as err:
        read_metadata(path)
    assert err.value.line == 2
