"""The department tree: one walk for every service (whose records a manager sees, where figures roll up)."""

from collections import defaultdict


class DepartmentTree:
    """Departments as a tree: `parents` maps each department to its parent (None at a root)."""

    def __init__(self, parents: dict[str, str | None]):
        self.parents = parents
        self.children: dict[str | None, list[str]] = defaultdict(list)
        for child, parent in parents.items():
            self.children[parent].append(child)

    def subtree(self, department_id: str | None) -> tuple[str, ...]:
        """The department and every department below it, the department first; () for None."""
        if department_id is None:
            return ()
        found, seen, stack = [], set(), [department_id]
        while stack:
            current = stack.pop()
            if current not in seen:  # a cycle in bad data ends the walk instead of looping
                seen.add(current)
                found.append(current)
                stack.extend(self.children.get(current, ()))
        return tuple(found)

    def ancestors(self, department_id: str | None) -> list[str]:
        """The department and every department above it (whose figures include it)."""
        chain, seen = [], set()
        while department_id is not None and department_id not in seen:
            chain.append(department_id)
            seen.add(department_id)
            department_id = self.parents.get(department_id)
        return chain


def subtree(parents: dict[str, str | None], root: str | None) -> tuple[str, ...]:
    """`root` and every department below it, from a map of department -> parent."""
    return DepartmentTree(parents).subtree(root)
