"""Write the real web sample's pages (../shared/web, HPLT; credit HPLT) of some splits and
languages as curate documents, each page as a crawl holds it (curate.web.page_text): the input
of the demo ablation (train and validation splits only; the test split is what it is scored on).
With --reference, the reference corpus's documents of the same splits and languages join them
(../shared/reference); with --synthetic DIR, the damaged copies `curate synthesize --reference`
wrote there of documents of those splits: together what `make export` fits the cascade on
(validation splits).

    python tools/web_pages.py --split train --split validation --lang nb --lang nn -o FILE
"""

from __future__ import annotations

import click

from curate.documents import read_documents, write_documents
from curate.reference import CREDIT as REFERENCE_CREDIT
from curate.reference import reference_splits
from curate.web import CREDIT, page_text, web_splits


@click.command()
@click.option(
    "--split", "splits", multiple=True, default=["train", "validation"], show_default=True
)
@click.option("--lang", "langs", multiple=True, default=["nb", "nn"], show_default=True)
@click.option("--web", default=None, help="The web sample folder (default ../shared/web).")
@click.option("--reference", is_flag=True, help="Add the reference corpus's documents too.")
@click.option(
    "--synthetic",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A `curate synthesize --reference` folder: its copies of documents of these splits.",
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False))
def main(splits, langs, web, reference, synthetic, output) -> None:
    by_split = web_splits(web)
    docs = [d for s in splits for d in by_split[s] if d.lang in langs]
    for doc in docs:
        doc.text = page_text(doc)
    credit = CREDIT
    if reference:
        edited = reference_splits()
        docs += [d for s in splits for d in edited[s] if d.lang in langs]
        credit += f" {REFERENCE_CREDIT}"
    if synthetic:
        copies = read_documents([synthetic])
        docs += [
            d
            for d in copies
            if d.metadata.get("damage") and d.metadata.get("split") in splits and d.lang in langs
        ]
    count = write_documents(docs, output)
    click.echo(f"{count} documents ({', '.join(splits)}; {', '.join(langs)}) -> {output}. {credit}")


if __name__ == "__main__":
    main()
