"""Bad input through a whole `curate filter` run: the run finishes, every bad row is counted
with its reason, every readable document ends in kept/ or in an exclusion folder."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from click.testing import CliRunner
from datatrove.data import Document

from curate.cli import cli
from curate.documents import read_documents

NORWEGIAN = (
    "Nordlyset oppstår når elektrisk ladde partikler fra sola treffer atmosfæren. Partiklene "
    "følger jordas magnetfelt mot polområdene, og der kolliderer de med oksygen og nitrogen. "
    "Oksygen gir det grønne lyset som vi ser oftest, mens nitrogen kan gi fiolette kanter. "
    "Nummer {n} i serien forklarer hvorfor lyset er sterkest om vinteren i Nord-Norge."
)
FOREIGN = [
    "Das Polarlicht entsteht, wenn geladene Teilchen der Sonne auf die Atmosphäre treffen und "
    "dort Sauerstoff und Stickstoff zum Leuchten bringen.",
    "Norðurljósin myndast þegar hlaðnar agnir frá sólinni rekast á lofthjúpinn og örva "
    "súrefni og nitur sem gefa frá sér ljós.",
    "极光是太阳带电粒子与地球大气层中的氧气和氮气碰撞时产生的发光现象。",
    "🌌🌌🌌 ✨✨ 🌠",
    "12345 67890 3.14159 2.71828 1.41421",
]


def corrupt_gzip(path, rows):
    raw = gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())
    middle = len(raw) // 2
    path.write_bytes(raw[:middle] + b"\x00garbage\xff" * 20 + raw[middle + 200 :])


def make_inputs(folder):
    folder.mkdir()
    docs = [{"id": f"no{n}", "text": NORWEGIAN.format(n=n)} for n in range(200)]
    corrupt_gzip(folder / "broken.jsonl.gz", docs)
    table = pa.table({"content": ["Tekst uten tekstkolonne."] * 5, "url": ["http://x"] * 5})
    pq.write_table(table, folder / "no_text_column.parquet")
    with (folder / "foreign.jsonl").open("w") as out:
        for n, text in enumerate(FOREIGN):
            out.write(json.dumps({"id": f"foreign{n}", "text": text}) + "\n")


def test_corrupt_gzip_missing_parquet_column_and_foreign_languages(tmp_path):
    make_inputs(tmp_path / "in")
    spec = {
        "input": {"path": str(tmp_path / "in")},
        "steps": [{"language": {"languages": ["nb", "nn"]}}, {"exact_dedup": {}}],
        "output": {"path": str(tmp_path / "out")},
        "executor": {"local": {"tasks": 3, "workers": 1}},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(cli, ["filter", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    kept = list(read_documents([out / "kept"]))
    foreign = list(read_documents([out / "excluded" / "01_language"]))
    assert {d.id for d in foreign} == {f"foreign{n}" for n in range(len(FOREIGN))}
    assert all("lang_id" in d.metadata for d in foreign)
    # rows before the corruption survive; what the broken deflate stream yields after it is
    # counted as bad rows, never passed on
    ids = sorted(int(d.id[2:]) for d in kept)
    assert ids[:40] == list(range(40)) and len(ids) < 200 and set(ids) <= set(range(200))
    stats = json.loads((out / "logs" / "stage1" / "stats.json").read_text())
    reader = next(s for s in stats if "curate reader" in s["name"])["stats"]
    logs = "".join(p.read_text() for p in (out / "logs" / "stage1" / "logs").glob("*.log"))
    for row in range(1, 6):  # every parquet row is set aside by name and row
        assert f"no_text_column.parquet:{row}: missing text" in logs
    assert "broken.jsonl.gz:" in logs and "corrupt or truncated file" in logs
    assert any(k.startswith("bad_rows: corrupt or truncated file") for k in reader)
    bad_in_gzip = reader["bad_rows"]["total"] - 5
    assert bad_in_gzip >= 1 and len(kept) + bad_in_gzip <= 200
    assert "report.html" in result.output


def test_nordic_heuristic_filters_take_their_language_from_the_spec():
    from curate.pipeline.build import build_step

    text = (
        "Fjordene på Vestlandet ble formet av isbreer gjennom flere istider. Breene fulgte "
        "gamle elvedaler og gravde dem dypere.\nDa isen smeltet for rundt ti tusen år siden, "
        "steg havet inn i dalene.\nSognefjorden er over to hundre kilometer lang.\n"
        "Ved munningen ligger det ofte en terskel av løsmasser.\nDerfor er fjordene dype."
    )
    spam = "\n".join(["Kjøp billig forsikring i dag!"] * 12)
    menu = "Hjem\nOm oss\nNyheter\nKontakt oss\nPriser og tilbud\nLogg inn\nMin side"
    for name, bad in (("gopher_repetition", spam), ("c4_quality", menu), ("fineweb_quality", menu)):
        step = build_step(1, name, {"language": "nb"}, None)
        assert step.language.language == "nob", name  # curate.pipeline.words.SharedWords
        assert step.filter(Document(text=text, id="good")) is True, name
        assert step.filter(Document(text=bad, id="bad")) is not True, name
    assert build_step(1, "c4_quality", {}, None).language.language == "nob"  # not eng


def test_every_shipped_spec_builds_for_every_executor(repo_root, bundle, monkeypatch):
    from curate.pipeline.build import build_stages, parse
    from curate.pipeline.executors import EXECUTORS, make_runner
    from curate.pipeline.spec import read_spec

    monkeypatch.chdir(repo_root)
    # the specs name the repository's bundles (built by make); use the test bundle instead
    for path in sorted((repo_root / "pipelines").glob("*.yaml")):
        document = read_spec(path)
        for step in document["steps"]:
            for params in step.values():
                if params and "bundles" in params:
                    params["bundles"] = [str(bundle[0])]
                if params and "domain" in params:  # the test bundle's labels have no domain
                    params["domain"] = "all"
        spec = parse(document, str(path))
        stages = build_stages(spec)
        assert type(stages[0][0][0]).__name__ == "CurateReader", path.name
        for kind in EXECUTORS:
            make_runner(*spec.executor_settings(kind))  # every section is valid for its executor


def test_parquet_output_reads_back_with_metadata(tmp_path, repo_root):
    spec = {
        "input": {"path": str(repo_root / "data" / "demo" / "plain")},
        "steps": [{"language": {"languages": None}}],
        "output": {"path": str(tmp_path / "out"), "format": "parquet"},
        "executor": {"local": {"tasks": 1}},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = CliRunner().invoke(cli, ["filter", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 0, result.output
    docs = list(read_documents([tmp_path / "out" / "kept"]))
    assert len(docs) == 6 and all(d.metadata.get("lang_id") for d in docs)


def test_root_refuses_spec_paths_that_escape_it(tmp_path):
    root = tmp_path / "shared"
    (root / "in").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (root / "in" / "link").symlink_to(tmp_path / "secret")
    cases = {
        "input.path": {"input": {"path": str(root / "in" / ".." / ".." / "secret")}},
        "output.path": {"output": {"path": "/etc/curate-out"}},
        "step 1 (language)": {"input": {"path": str(root / "in" / "link")}},
    }
    for key, change in cases.items():
        spec = {
            "input": {"path": str(root / "in")},
            "steps": [{"language": {}}],
            "output": {"path": str(root / "out")},
            **change,
        }
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(spec))
        result = CliRunner().invoke(cli, ["filter", str(path), "--root", str(root)])
        expected = "input.path" if key.startswith("step") else key
        assert result.exit_code != 0 and f"{expected}: " in result.output, result.output
        assert "outside the root" in result.output
        assert not (root / "out").exists()
