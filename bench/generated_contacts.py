"""Generated contacts as CSV, for the benchmarks: `python bench/generated_contacts.py ROWS > file.csv`.

Run as its own process by `bench_contacts.py`, as the client that uploads the file: it imports
nothing of the system, so its memory and CPU are a client's, not the importer's.
"""

import itertools
import random
import sys

FIRST = ["Ada", "Zoë", "José", "Grace", "Alan", "Björn", "Chloé", "Dmitri", "Émile", "Fatima", "Günter", "Hana"]
FIRST += [f"{a}{b}" for a, b in itertools.product(["Ma", "Li", "Ro", "Ka", "Te"], ["ria", "nus", "sa", "ren"])]
SYLLABLES = ["lo", "ve", "la", "ce", "hop", "per", "tu", "ring", "nú", "ñez", "mül", "ler", "sch", "midt", "ka"]


def last_names(count: int = 2000) -> list[str]:
    rng = random.Random(7)
    return [("".join(rng.choice(SYLLABLES) for _ in range(3))).capitalize() for _ in range(count)]


def generated_lines(rows: int):
    """`rows` contacts as CSV lines, `;`-separated, made as they are needed."""
    lasts = last_names()
    yield "first_name;last_name;email;phone;company;tags\n"
    for n in range(rows):
        first, last = FIRST[n % len(FIRST)], lasts[(n * 7919) % len(lasts)]
        yield (
            f"{first};{last};{first.lower()}.{n}@example{n % 97}.com;+4420{70000000 + n};"
            f"Company {n % 1000};{'vip' if n % 10 == 0 else 'lead'}\n"
        )


def write_csv(rows: int) -> None:
    """The generated file on stdout."""
    lines = generated_lines(rows)
    while chunk := "".join(itertools.islice(lines, 1000)):
        sys.stdout.buffer.write(chunk.encode())
    sys.stdout.buffer.flush()


if __name__ == "__main__":
    write_csv(int(sys.argv[1]))
