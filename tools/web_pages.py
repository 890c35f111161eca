"""Write the real web sample's pages (../shared/web, HPLT; credit HPLT) of some splits and
languages as curate documents, each page as a crawl holds it (curate.web.page_text): the input
of the demo ablation (train and validation splits only; the test split is what it is scored on).

    python tools/web_pages.py --split train --split validation --lang nb --lang nn -o FILE
"""

from __future__ import annotations

import click

from curate.documents import write_documents
from curate.web import CREDIT, page_text, web_splits


@click.command()
@click.option(
    "--split", "splits", multiple=True, default=["train", "validation"], show_default=True
)
@click.option("--lang", "langs", multiple=True, default=["nb", "nn"], show_default=True)
@click.option("--web", default=None, help="The web sample folder (default ../shared/web).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def main(splits, langs, web, output) -> None:
    by_split = web_splits(web)
    docs = [d for s in splits for d in by_split[s] if d.lang in langs]
    for doc in docs:
        doc.text = page_text(doc)
    count = write_documents(docs, output)
    click.echo(f"{count} pages ({', '.join(splits)}; {', '.join(langs)}) -> {output}. {CREDIT}")


if __name__ == "__main__":
    main()
