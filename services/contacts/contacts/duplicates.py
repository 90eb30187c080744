"""Duplicates and merging as plain functions: who may be the same person, and how records combine."""

from datetime import datetime

from rapidfuzz import fuzz

from contacts.normalise import search_key

NAME_THRESHOLD = 88  # token-sort ratio above which two names at one company are reported
SINGLE_VALUED = ("first_name", "last_name", "company_id", "owner_id", "department_id", "timezone")


def full_name(contact: dict) -> str:
    return search_key(f"{contact.get('first_name') or ''} {contact.get('last_name') or ''}")


def duplicate_reasons(contact: dict, candidate: dict) -> tuple[int, list[str]]:
    """How sure (0-100) we are that `candidate` is the same person as `contact`, and why.

    A shared e-mail or phone is certain (100); a close name at the same company scores its similarity.
    """
    reasons = []
    shared_emails = sorted(set(contact.get("emails") or []) & set(candidate.get("emails") or []))
    shared_phones = sorted(set(contact.get("phones") or []) & set(candidate.get("phones") or []))
    reasons += [f"same e-mail {e}" for e in shared_emails] + [f"same phone {p}" for p in shared_phones]
    score = 100 if reasons else 0
    if contact.get("company_id") and contact.get("company_id") == candidate.get("company_id"):
        similarity = round(fuzz.token_sort_ratio(full_name(contact), full_name(candidate)))
        if similarity >= NAME_THRESHOLD:
            reasons.append(f"similar name at the same company ({similarity}%)")
            score = max(score, similarity)
    return score, reasons


def rank_duplicates(contact: dict, candidates: list[dict]) -> list[dict]:
    """The candidates that may duplicate `contact`, surest first, each with its score and reasons."""
    found = []
    for candidate in candidates:
        if candidate["id"] == contact.get("id"):
            continue
        score, reasons = duplicate_reasons(contact, candidate)
        if reasons:
            found.append(
                {
                    "id": candidate["id"],
                    "score": score,
                    "reasons": reasons,
                    "first_name": candidate["first_name"],
                    "last_name": candidate["last_name"],
                }
            )
    return sorted(found, key=lambda d: (-d["score"], d["id"]))


def _updated(contact: dict) -> datetime:
    return datetime.fromisoformat(contact["updated_at"])


def merge_contacts(target: dict, sources: list[dict]) -> tuple[dict, dict]:
    """The target's fields after absorbing `sources`, and the record of what conflicted.

    Survivorship, so that no value is thrown away:
    - single values (names, company, owner, department, time zone): the target's wins; an empty one
      is filled from the first source that has it; every other differing value goes to `conflicts`;
    - e-mails, phones and tags: the union, the target's first (its primary e-mail stays primary);
    - attributes: the target's keys win, keys only a source has are added, differing values go to
      `conflicts` as `attributes.<key>`;
    - marketing consent: the most recently updated record's answer, the person's latest word.
    """
    merged: dict = {}
    conflicts: dict[str, list] = {}
    for name in SINGLE_VALUED:
        value = target.get(name)
        for source in sources:
            other = source.get(name)
            if other in (None, ""):
                continue
            if value in (None, ""):
                value = other
            elif other != value and other not in conflicts.get(name, []):
                conflicts.setdefault(name, []).append(other)
        merged[name] = value
    for name in ("emails", "phones", "tags"):
        union = list(target.get(name) or [])
        for source in sources:
            union += [v for v in source.get(name) or [] if v not in union]
        merged[name] = sorted(union) if name == "tags" else union
    attributes = dict(target.get("attributes") or {})
    for source in sources:
        for key, value in (source.get("attributes") or {}).items():
            if key not in attributes:
                attributes[key] = value
            elif attributes[key] != value:
                conflicts.setdefault(f"attributes.{key}", []).append(value)
    merged["attributes"] = attributes
    latest = max([target, *sources], key=_updated)
    merged["marketing_consent"] = latest["marketing_consent"]
    if any(s["marketing_consent"] != merged["marketing_consent"] for s in [target, *sources]):
        conflicts["marketing_consent"] = [s["marketing_consent"] for s in [target, *sources]]
    record = {"target_id": target["id"], "source_ids": [s["id"] for s in sources], "conflicts": conflicts}
    return merged, record
