"""A stand-in for ../shared (reference corpus and web sample) small enough for the ablation tests:
a few documents written here, under ids that the committed splits put in the test split (so the
task builders take them as held out), and a training corpus. The texts are ours; only the ids
come from the committed split lists."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

NB = [
    "Kommunen har vedtatt en ny plan for skolene i sentrum.",
    "Planen skal gi elevene bedre lokaler og mer tid med lærerne sine.",
    "Arbeidet starter til høsten og skal være ferdig om to år.",
    "Foreldrene har vært med på å bestemme hvordan skolegården skal se ut.",
    "Rektor sier at hun gleder seg til å ta imot elevene i det nye bygget.",
    "Det blir også plass til et bibliotek som hele bydelen kan bruke.",
]
NN = [
    "Kommunen har vedteke ein ny plan for skulane i sentrum.",
    "Planen skal gje elevane betre lokale og meir tid med lærarane sine.",
    "Arbeidet tek til til hausten og skal vere ferdig om to år.",
    "Foreldra har vore med på å bestemme korleis skuleplassen skal sjå ut.",
    "Rektor seier at ho gler seg til å ta imot elevane i det nye bygget.",
    "Det blir òg plass til eit bibliotek som heile bydelen kan bruke.",
]
SV = [
    "Kommunen har antagit en ny plan för skolorna i centrum.",
    "Planen ska ge eleverna bättre lokaler och mer tid med sina lärare.",
    "Arbetet börjar i höst och ska vara klart om två år.",
    "Föräldrarna har fått vara med och bestämma hur skolgården ska se ut.",
    "Rektorn säger att hon ser fram emot att ta emot eleverna i den nya byggnaden.",
    "Det blir också plats för ett bibliotek som hela stadsdelen kan använda.",
]
DA = [
    "Kommunen har vedtaget en ny plan for skolerne i centrum.",
    "Planen skal give eleverne bedre lokaler og mere tid med deres lærere.",
    "Arbejdet begynder til efteråret og skal være færdigt om to år.",
    "Forældrene har været med til at bestemme, hvordan skolegården skal se ud.",
    "Skolelederen siger, at hun glæder sig til at tage imod eleverne i den nye bygning.",
    "Der bliver også plads til et bibliotek, som hele bydelen kan bruge.",
]
LAW = (
    "Loven gjelder for alle som driver virksomhet i riket. Departementet kan gi forskrift om "
    "hvem som skal regnes som ansvarlig for virksomheten. Den som bryter reglene i denne loven, "
    "kan straffes med bøter. Tilsynet skal føre kontroll med at bestemmelsene blir fulgt. "
    "Vedtak etter denne paragrafen kan påklages til departementet innen tre uker."
)
NEWS = (
    "Regjeringen la fram statsbudsjettet for neste år på tirsdag. Finansministeren sa at "
    "budsjettet skal bidra til lavere prisvekst og flere arbeidsplasser. Opposisjonen mener "
    "at det brukes for lite penger på sykehusene i distriktene. Budsjettet skal behandles i "
    "Stortinget i løpet av høsten. Flere partier har allerede varslet at de vil kreve endringer."
)
WEB = (
    "Vi har åpent hver dag fra klokka ti til fire i hele sommer. Her kan du kjøpe ferske "
    "grønnsaker fra gården og nybakt brød fra vårt eget bakeri. Barna kan hilse på dyrene i "
    "fjøset og leke på den store lekeplassen ved siden av kafeen. Velkommen innom når du er i "
    "nærheten, vi gleder oss til å se deg."
)
ARTICLE = "abcnews.306758"
WEB_TEST_NB = "hplt2-nob-b0-0a36aeb56c8d6e62c48ed90ebcbad2bc"
WEB_TEST_NN = "hplt2-nno-b0-1183b650074eca64e790caca777588b0"


def write_gz(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_shared(root: Path) -> tuple[Path, Path]:
    """(reference folder, web folder) under `root`."""
    reference, web = root / "reference", root / "web"
    ntrex = [
        {"id": f"ntrex/{code}/{ARTICLE}", "text": "\n".join(lines), "lang": lang,
         "genre": "news (translated from English)"}
        for code, lang, lines in (("nob", "nb", NB), ("nno", "nn", NN), ("swe", "sv", SV),
                                  ("dan", "da", DA))
    ]  # fmt: skip
    write_gz(reference / "ntrex.jsonl.gz", ntrex)
    write_gz(
        reference / "laws.jsonl.gz",
        [{"id": "laws/lover/lov-1918-08-14-4.md", "text": LAW, "lang": "nb", "genre": "law"}],
    )
    write_gz(
        reference / "norquad.jsonl.gz",
        [{"id": "norquad/news/240", "text": NEWS, "lang": "nb", "genre": "news"}],
    )
    fine = {"porn": False, "unnatural": False, "artifacts": False, "lang_correct": True}
    write_gz(
        web / "hplt.jsonl.gz",
        [
            {"id": WEB_TEST_NB, "text": WEB, "lang": "nb", "release": "v2.0", "whole": True,
             "human": fine},
            {"id": WEB_TEST_NN, "text": " ".join(NN), "lang": "nn", "release": "v2.0",
             "whole": True},
        ],
    )  # fmt: skip
    return reference, web


def write_corpus(path: Path, copies: int, prefix: str) -> Path:
    """A training corpus: the texts above `copies` times under other ids (the tests check the
    mechanics, so that the held-out texts are also trained on does not matter here)."""
    texts = [" ".join(NB), LAW, NEWS, WEB, " ".join(NN)]
    rows = [
        {"id": f"{prefix}-{n}-{i}", "text": text, "lang": "nb"}
        for n in range(copies)
        for i, text in enumerate(texts)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path
