"""Irreducible representations of O(3) and their direct sums, in e3nn's syntax.

An irrep of O(3) is a degree ``l >= 0`` (dimension ``2l + 1``) and a parity ``p = +1`` (even,
written ``"e"``) or ``p = -1`` (odd, ``"o"``); ``"y"`` means the parity ``(-1)^l`` of the
spherical harmonics. A direct sum of irreps with multiplicities is written
``"32x0e + 16x1o + 8x2e"``.

The three types are immutable tuples, hashable, usable as static arguments of ``jax.jit``, and
registered as pytrees without leaves (they travel in the tree structure, like e3nn-jax's):

- `Irrep` is the pair ``(l, p)``,
- `MulIrrep` is the pair ``(mul, ir)``,
- `Irreps` is a tuple of `MulIrrep`.

Because they are tuples of the right shape, e3nn-jax accepts them wherever it takes irreps
(``e3nn_jax.Irreps(equitens_irreps)`` works), and every constructor here accepts e3nn-jax's types.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Set
from functools import lru_cache
from typing import Any, NamedTuple, Union

import jax

__all__ = ["Irrep", "MulIrrep", "Irreps", "IrrepsSort", "tensor_product_irreps"]

_SYNTAX = (
    "expected MULxLP such as '16x1o' or LP such as '1o' (MUL >= 0 and l >= 0 integers, "
    "p = 'e' (even), 'o' (odd) or 'y' (parity (-1)^l)), terms joined by '+'"
)
_TERM = re.compile(r"(?:([0-9]+)\s*x\s*)?([0-9]+)([eoy])")
_PARITY_LETTER = {1: "e", -1: "o"}


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _e3nn():
    """The e3nn_jax module if it has been imported (objects of its types can exist), else None."""
    return sys.modules.get("e3nn_jax")


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    numpy = sys.modules.get("numpy")
    return numpy is not None and isinstance(value, numpy.integer)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _check_count(value: Any, name: str) -> int:
    """``value`` as an int if it is a non-negative integer; else an error naming it."""
    if not _is_int(value):
        raise TypeError(f"{name} must be an int, got {value!r} ({_type_name(value)})")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return int(value)


def _check_l(l: Any) -> int:
    return _check_count(l, "degree l")


def _check_p(p: Any) -> int:
    if not _is_int(p):
        raise TypeError(
            f"parity p must be the int +1 (even) or -1 (odd), got {p!r} ({_type_name(p)}); "
            "to write the parity as a letter use Irrep('1o')"
        )
    if p not in (1, -1):
        raise ValueError(f"parity p must be +1 (even) or -1 (odd), got {p}")
    return int(p)


def _check_mul(mul: Any) -> int:
    return _check_count(mul, "multiplicity")


def _quote(text: str, limit: int = 120) -> str:
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return json.dumps(text, ensure_ascii=False)


def _digits_to_int(digits: str, what: str, term: str) -> int:
    try:
        return int(digits)
    except ValueError:  # more digits than Python's int/str conversion limit
        raise ValueError(
            f"invalid irrep {term[:40]!r}...: the {what} has too many digits ({len(digits)}); "
            f"{_SYNTAX}"
        ) from None


def _term_problem(term: str) -> str:
    """Why a stripped, non-matching term is not ``MULxLP``."""
    if term.count("x") > 1:
        return "more than one 'x'"
    ir = term
    if "x" in term:
        mul, ir = (part.strip() for part in term.split("x"))
        if not mul:
            return "missing the multiplicity before 'x'"
        if not (mul.isascii() and mul.isdigit()):
            return f"multiplicity {mul!r} is not a non-negative integer"
        if not ir:
            return "missing the irrep after 'x'"
    if re.search(r"\s", ir):
        return f"unexpected space inside {ir!r} (separate terms with '+')"
    if ir.isascii() and ir.isdigit():
        return f"{ir!r} has no parity: append 'e' (even) or 'o' (odd)"
    if ir[-1] not in "eoy":
        return f"parity {ir[-1]!r} must be 'e' (even), 'o' (odd) or 'y' (parity (-1)^l)"
    if not ir[:-1]:
        return f"missing the degree l before the parity {ir[-1]!r}"
    return f"degree l {ir[:-1]!r} is not a non-negative integer"


def _match_term(term: str, text: str, index: int, count: int) -> tuple[int, int, int]:
    """Parse one stripped term into ``(mul, l, p)`` (``mul`` defaults to 1)."""
    if not term:
        raise ValueError(
            f"empty term in {_quote(text)} (term {index + 1} of {count}): remove the extra '+'; "
            f"{_SYNTAX}"
        )
    match = _TERM.fullmatch(term)
    if match is None:
        problem = _term_problem(term)
        raise ValueError(f"invalid irrep {term!r} in {_quote(text)}: {problem}; {_SYNTAX}")
    mul_digits, l_digits, letter = match.groups()
    mul = 1 if mul_digits is None else _digits_to_int(mul_digits, "multiplicity", term)
    l = _digits_to_int(l_digits, "degree l", term)
    p = {"e": 1, "o": -1, "y": -1 if l % 2 else 1}[letter]
    return mul, l, p


_SPACES = frozenset(" \t\n\r\f\v")


def _check_spaces(text: str) -> None:
    """Refuse whitespace other than ASCII spaces, tabs and newlines (control or Unicode spaces
    that Python's ``str.strip`` would drop silently, and e3nn-jax reads inconsistently)."""
    odd = sorted({c for c in text if c.isspace() and c not in _SPACES})
    if odd:
        raise ValueError(
            f"invalid irreps string {text!r}: it contains the unusual whitespace "
            f"{', '.join(repr(c) for c in odd)}; separate terms with plain spaces"
        )


@lru_cache(maxsize=2048)
def _parse_irreps(text: str) -> tuple[MulIrrep, ...]:
    _check_spaces(text)
    if not text.strip():
        return ()
    terms = text.split("+")
    out = []
    for index, raw in enumerate(terms):
        mul, l, p = _match_term(raw.strip(), text, index, len(terms))
        out.append(_new_mul_irrep(mul, _new_irrep(l, p)))
    return tuple(out)


def _parse_irrep(text: str) -> Irrep:
    _check_spaces(text)
    term = text.strip()
    match = _TERM.fullmatch(term)
    if match is None:
        problem = _term_problem(term) if term else "empty string"
        raise ValueError(
            f"invalid irrep {text!r}: {problem}; expected LP such as '1o' (l >= 0 integer, "
            "p = 'e' (even), 'o' (odd) or 'y' (parity (-1)^l))"
        )
    if match.group(1) is not None:
        raise ValueError(
            f"invalid irrep {text!r}: an Irrep has no multiplicity; "
            f"use MulIrrep({text!r}) or Irreps({text!r})"
        )
    (mul_irrep,) = _parse_irreps(term)
    return mul_irrep.ir


def _new_irrep(l: int, p: int) -> Irrep:
    return tuple.__new__(Irrep, (l, p))


def _new_mul_irrep(mul: int, ir: Irrep) -> MulIrrep:
    return tuple.__new__(MulIrrep, (mul, ir))


def _new_irreps(mul_irreps: Iterable[MulIrrep]) -> Irreps:
    return tuple.__new__(Irreps, tuple(mul_irreps))


def _as_irrep(value: Any) -> Irrep:
    """Convert an irrep-like value (Irrep, '1o', (l, p), e3nn_jax.Irrep) into an Irrep."""
    if isinstance(value, Irrep):
        return value
    if isinstance(value, str):
        return _parse_irrep(value)
    if isinstance(value, MulIrrep):
        raise TypeError(f"expected an irrep, got the MulIrrep {value!r}; use its `.ir`")
    if isinstance(value, Irreps):
        raise TypeError(f"expected a single irrep, got the Irreps {value!r}")
    e3nn = _e3nn()
    if e3nn is not None and isinstance(value, e3nn.Irrep):
        return _new_irrep(int(value.l), int(value.p))
    if isinstance(value, tuple) and len(value) == 2:
        return _new_irrep(_check_l(value[0]), _check_p(value[1]))
    if _is_int(value):
        raise TypeError(
            f"cannot interpret the int {value!r} as an irrep: give the parity too, "
            f"as Irrep({value}, p) or a string such as '{value}e'"
        )
    raise TypeError(
        f"cannot interpret {value!r} ({_type_name(value)}) as an irrep: "
        "expected an Irrep, a string such as '1o', or a pair (l, p)"
    )


def _as_mul_irrep(value: Any) -> MulIrrep:
    """Convert one item of an irreps list into a MulIrrep."""
    if isinstance(value, MulIrrep):
        return value
    if isinstance(value, Irrep):
        return _new_mul_irrep(1, value)
    if isinstance(value, str):
        mul_irreps = _parse_irreps(value)
        if len(mul_irreps) != 1:
            raise ValueError(
                f"expected a single term such as '16x1o', got {_quote(value)} "
                f"with {len(mul_irreps)} terms; use Irreps({_quote(value)})"
            )
        return mul_irreps[0]
    e3nn = _e3nn()
    if e3nn is not None:
        if isinstance(value, e3nn.MulIrrep):
            return _new_mul_irrep(_check_mul(value.mul), _as_irrep(value.ir))
        if isinstance(value, e3nn.Irrep):
            return _new_mul_irrep(1, _as_irrep(value))
    if isinstance(value, (tuple, list)) and len(value) == 2:
        mul, ir = value
        if _is_int(mul) and _is_int(ir):
            raise TypeError(
                f"the pair {value!r} is read as (mul, ir) and {ir!r} is not an irrep: "
                f"for the irrep (l, p) = {tuple(value)!r} write (1, {tuple(value)!r}) or a string "
                "such as '1o'"
            )
        try:
            return _new_mul_irrep(_check_mul(mul), _as_irrep(ir))
        except TypeError as error:
            raise TypeError(f"cannot interpret {value!r} as a pair (mul, ir): {error}") from None
    raise TypeError(
        f"cannot interpret {value!r} ({_type_name(value)}) as an irrep with multiplicity: "
        "expected a pair (mul, ir), an Irrep, a MulIrrep, or a string such as '16x1o'"
    )


def _irrep_set(spec: Any) -> frozenset[Irrep]:
    """The irreps named by ``spec`` (irreps string, Irreps, Irrep, or an iterable of irreps)."""
    if isinstance(spec, (str, Irreps)):
        return frozenset(ir for _, ir in Irreps(spec))
    if isinstance(spec, Irrep):
        return frozenset([spec])
    if isinstance(spec, MulIrrep):
        return frozenset([spec.ir])
    e3nn = _e3nn()
    if e3nn is not None:
        if isinstance(spec, e3nn.Irreps):
            return _irrep_set(Irreps(spec))
        if isinstance(spec, (e3nn.Irrep, e3nn.MulIrrep)):
            return _irrep_set(_as_mul_irrep(spec))
    if isinstance(spec, Iterable) and not isinstance(spec, Mapping):
        out: set[Irrep] = set()
        for item in spec:
            if isinstance(item, (str, MulIrrep)) or (
                e3nn is not None and isinstance(item, e3nn.MulIrrep)
            ):
                out |= _irrep_set(item)
            else:
                out.add(_as_irrep(item))
        return frozenset(out)
    raise TypeError(
        f"cannot interpret {spec!r} ({_type_name(spec)}) as a set of irreps: expected an irreps "
        "string such as '0e + 1o', an Irreps, an Irrep, or a list of irreps"
    )


def _mul_irrep_predicate(spec: Any) -> Callable[[MulIrrep], bool]:
    if callable(spec) and not isinstance(spec, (str, tuple, type)):
        return lambda mul_ir: bool(spec(mul_ir))
    irreps = _irrep_set(spec)
    return lambda mul_ir: mul_ir.ir in irreps


# --------------------------------------------------------------------------------------------
# Irrep
# --------------------------------------------------------------------------------------------


class Irrep(tuple):
    """An irreducible representation of O(3): a degree ``l`` and a parity ``p``.

    Build it as ``Irrep(l, p)``, from a string ``Irrep("1o")`` (``"y"`` means the parity
    ``(-1)^l`` of the spherical harmonics), from a pair ``(l, p)``, from another `Irrep` or from an
    ``e3nn_jax.Irrep``. It is the immutable pair ``(l, p)``: ``l, p = ir`` unpacks it.

    Irreps are ordered like e3nn-jax: by ``l``, then the parity ``(-1)^l`` of the spherical
    harmonics first (``0e < 0o < 1o < 1e < 2e < 2o``). An `Irrep` equals its string form
    (``Irrep(1, -1) == "1o"``), but only `Irrep` keys hash alike in sets and dicts.

    Args:
        l: the degree, an integer ``>= 0`` (or an irrep-like value when ``p`` is omitted).
        p: the parity, ``+1`` (even) or ``-1`` (odd).

    Raises:
        ValueError: for a malformed string, a negative ``l`` or a parity other than ``+1, -1``.
        TypeError: for values of the wrong type (floats, bools, ``None``).

    Examples:
        >>> Irrep(2, -1)
        2o
        >>> Irrep("1o").dim, Irrep("3y")
        (3, 3o)
        >>> Irrep("1o") * Irrep("1o")
        (0e, 1e, 2e)
        >>> sorted([Irrep("1e"), Irrep("0o"), Irrep("1o"), Irrep("0e")])
        [0e, 0o, 1o, 1e]
    """

    __slots__ = ()

    def __new__(cls, l: Any, p: int | None = None) -> Irrep:
        if p is None:
            return _as_irrep(l)
        return _new_irrep(_check_l(l), _check_p(p))

    def __init__(self, l: Any, p: int | None = None) -> None:
        """The work is done in ``__new__``; this gives documentation tools the signature."""

    def __getnewargs__(self) -> tuple[int, int]:
        return tuple(self)

    @property
    def l(self) -> int:  # noqa: E743
        """The degree ``l``."""
        return tuple.__getitem__(self, 0)

    @property
    def p(self) -> int:
        """The parity, ``+1`` (even) or ``-1`` (odd)."""
        return tuple.__getitem__(self, 1)

    @property
    def dim(self) -> int:
        """The dimension ``2l + 1``."""
        return 2 * self.l + 1

    def is_scalar(self) -> bool:
        """Whether this is the trivial representation ``0e``.

        Returns:
            ``True`` for ``0e``, ``False`` otherwise (``0o`` is a pseudoscalar).

        Examples:
            >>> Irrep("0e").is_scalar(), Irrep("0o").is_scalar()
            (True, False)
        """
        return self.l == 0 and self.p == 1

    def to_e3nn(self) -> Any:
        """The same irrep as an ``e3nn_jax.Irrep``.

        Returns:
            The ``e3nn_jax.Irrep`` with the same ``l`` and ``p``.

        Examples:
            >>> Irrep("2o").to_e3nn()
            2o
        """
        import e3nn_jax

        return e3nn_jax.Irrep(self.l, self.p)

    # -- arithmetic ---------------------------------------------------------------------------

    def __mul__(self, other: Any) -> Any:
        """``ir1 * ir2``: the irreps in the product, ``|l1 - l2| .. l1 + l2`` with parity ``p1 p2``.

        ``ir * n`` (an int) is the `Irreps` ``n x ir``.
        """
        if _is_int(other):
            return Irreps([(_check_mul(other), self)])
        try:
            other = _as_irrep(other)
        except TypeError:
            return NotImplemented
        p = self.p * other.p
        return tuple(_new_irrep(l, p) for l in range(abs(self.l - other.l), self.l + other.l + 1))

    def __rmul__(self, other: Any) -> Any:
        if _is_int(other):
            return Irreps([(_check_mul(other), self)])
        try:
            return _as_irrep(other) * self
        except TypeError:
            return NotImplemented

    def __add__(self, other: Any) -> Irreps:
        return Irreps(self) + other

    def __radd__(self, other: Any) -> Irreps:
        return Irreps(other) + self

    # -- comparison ---------------------------------------------------------------------------

    def _key(self) -> tuple[int, int]:
        return (self.l, 0 if self.p == (-1) ** self.l else 1)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return tuple.__eq__(self, other)
        if isinstance(other, str):
            try:
                return tuple.__eq__(self, _parse_irrep(other))
            except ValueError:
                return False
        e3nn = _e3nn()
        if e3nn is not None and isinstance(other, e3nn.Irrep):
            return (self.l, self.p) == (other.l, other.p)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__

    def _compare(self, other: Any) -> tuple[int, int] | None:
        try:
            return _as_irrep(other)._key()
        except TypeError:
            return None

    def __lt__(self, other: Any) -> bool:
        key = self._compare(other)
        return NotImplemented if key is None else self._key() < key

    def __le__(self, other: Any) -> bool:
        key = self._compare(other)
        return NotImplemented if key is None else self._key() <= key

    def __gt__(self, other: Any) -> bool:
        key = self._compare(other)
        return NotImplemented if key is None else self._key() > key

    def __ge__(self, other: Any) -> bool:
        key = self._compare(other)
        return NotImplemented if key is None else self._key() >= key

    def __repr__(self) -> str:
        return f"{self.l}{_PARITY_LETTER[self.p]}"

    __str__ = __repr__


# --------------------------------------------------------------------------------------------
# MulIrrep
# --------------------------------------------------------------------------------------------


class MulIrrep(tuple):
    """An irrep with a multiplicity: the immutable pair ``(mul, ir)``.

    Ordered by irrep, then multiplicity.

    Args:
        mul: the multiplicity, an integer ``>= 0`` (or a term such as ``"16x1o"`` when ``ir`` is
            omitted).
        ir: the irrep, anything `Irrep` accepts.

    Raises:
        ValueError: for a negative multiplicity or a malformed irrep.
        TypeError: for values of the wrong type.

    Examples:
        >>> mul_ir = MulIrrep(16, "1o")
        >>> mul_ir, mul_ir.dim
        (16x1o, 48)
        >>> mul, ir = MulIrrep("8x2e")
        >>> mul, ir.l
        (8, 2)
    """

    __slots__ = ()

    def __new__(cls, mul: Any, ir: Any = None) -> MulIrrep:
        if ir is None:
            return _as_mul_irrep(mul)
        return _new_mul_irrep(_check_mul(mul), _as_irrep(ir))

    def __init__(self, mul: Any, ir: Any = None) -> None:
        """The work is done in ``__new__``; this gives documentation tools the signature."""

    def __getnewargs__(self) -> tuple[int, Irrep]:
        return tuple(self)

    @property
    def mul(self) -> int:
        """The multiplicity."""
        return tuple.__getitem__(self, 0)

    @property
    def ir(self) -> Irrep:
        """The irrep."""
        return tuple.__getitem__(self, 1)

    @property
    def dim(self) -> int:
        """The dimension ``mul * (2l + 1)``."""
        return self.mul * self.ir.dim

    def __eq__(self, other: object) -> bool:
        if isinstance(other, tuple):
            return tuple.__eq__(self, other)
        e3nn = _e3nn()
        if e3nn is not None and isinstance(other, e3nn.MulIrrep):
            return self.mul == other.mul and self.ir == other.ir
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__

    def _key(self) -> tuple[tuple[int, int], int]:
        return (self.ir._key(), self.mul)

    def __lt__(self, other: Any) -> bool:
        return self._key() < other._key() if isinstance(other, MulIrrep) else NotImplemented

    def __le__(self, other: Any) -> bool:
        return self._key() <= other._key() if isinstance(other, MulIrrep) else NotImplemented

    def __gt__(self, other: Any) -> bool:
        return self._key() > other._key() if isinstance(other, MulIrrep) else NotImplemented

    def __ge__(self, other: Any) -> bool:
        return self._key() >= other._key() if isinstance(other, MulIrrep) else NotImplemented

    def __add__(self, other: Any) -> Irreps:
        return Irreps(self) + other

    def __radd__(self, other: Any) -> Irreps:
        return Irreps(other) + self

    def __mul__(self, other: Any) -> MulIrrep:
        if not _is_int(other):
            return NotImplemented
        return _new_mul_irrep(self.mul * _check_mul(other), self.ir)

    __rmul__ = __mul__

    def __repr__(self) -> str:
        return f"{self.mul}x{self.ir}"

    __str__ = __repr__


# --------------------------------------------------------------------------------------------
# Irreps
# --------------------------------------------------------------------------------------------


class IrrepsSort(NamedTuple):
    """The result of `Irreps.sort`: the sorted irreps and the permutation that sorts them.

    ``irreps[i]`` moves to position ``p[i]``; ``sorted_irreps[j] == irreps[inv[j]]``.
    """

    irreps: Irreps
    p: tuple[int, ...]
    inv: tuple[int, ...]


IntoIrreps = Union[str, "Irrep", "MulIrrep", "Irreps", Iterable[Any]]


class Irreps(tuple):
    """A direct sum of irreps of O(3): an immutable tuple of `MulIrrep`.

    Build it from a string in e3nn syntax (``"32x0e + 16x1o + 8x2e"``; ``"1o"`` means ``1x1o``,
    multiplicity 0 is allowed, ``""`` is the empty sum), from an `Irrep` or `MulIrrep`, from a list
    of pairs ``(mul, ir)``, irreps or strings, from another `Irreps`, or from ``e3nn_jax.Irreps``.

    The order of the terms is kept exactly as given (it is the order of the components of an
    array); `simplify`, `sort` and `regroup` build normalised forms. An `Irreps` equals its
    string form and the equal ``e3nn_jax.Irreps``.

    Args:
        irreps: the irreps, in any of the forms above. Defaults to the empty sum.

    Raises:
        ValueError: for a malformed string (the message names the bad term and shows the syntax)
            or a negative multiplicity.
        TypeError: for values of the wrong type (``None``, floats, bools, sets, ...).

    Examples:
        >>> irreps = Irreps("32x0e + 16x1o + 8x2e")
        >>> irreps, irreps.dim, irreps.num_irreps, irreps.lmax
        (32x0e+16x1o+8x2e, 120, 56, 2)
        >>> Irreps([(2, "1o"), (1, (0, 1))])
        2x1o+1x0e
        >>> Irreps("1o") + "2x0e" == "1x1o + 2x0e"
        True
    """

    __slots__ = ()

    def __new__(cls, irreps: IntoIrreps = ()) -> Irreps:
        if isinstance(irreps, Irreps):
            return irreps
        if isinstance(irreps, str):
            return _new_irreps(_parse_irreps(irreps))
        if isinstance(irreps, (Irrep, MulIrrep)):
            return _new_irreps([_as_mul_irrep(irreps)])
        e3nn = _e3nn()
        if e3nn is not None and isinstance(irreps, (e3nn.Irrep, e3nn.MulIrrep)):
            return _new_irreps([_as_mul_irrep(irreps)])
        if irreps is None:
            raise TypeError("Irreps(None) is ambiguous: use Irreps() or Irreps('') for no irreps")
        if isinstance(irreps, (Mapping, Set)) or not isinstance(irreps, Iterable):
            raise TypeError(
                f"cannot build Irreps from {irreps!r} ({_type_name(irreps)}): expected a string "
                "such as '16x0e + 8x1o', an Irrep, a MulIrrep, or an ordered list of "
                "(mul, ir) pairs, irreps or strings"
            )
        out: list[MulIrrep] = []
        for item in irreps:
            if isinstance(item, str):
                out.extend(_parse_irreps(item))
            else:
                out.append(_as_mul_irrep(item))
        return _new_irreps(out)

    def __init__(self, irreps: IntoIrreps = ()) -> None:
        """The work is done in ``__new__``; this gives documentation tools the signature."""

    def __getnewargs__(self) -> tuple[tuple[MulIrrep, ...]]:
        return (tuple(self),)

    @staticmethod
    def spherical_harmonics(lmax: int, p: int = -1) -> Irreps:
        """The irreps of the spherical harmonics ``Y^0, ..., Y^lmax``: ``1x0e + 1x1o + ...``.

        Args:
            lmax: the largest degree, ``>= 0``.
            p: ``-1`` for the parity ``(-1)^l`` of the spherical harmonics of a polar vector,
                ``+1`` for all even (harmonics of a pseudovector).

        Returns:
            ``Irreps([(1, (l, p**l)) for l in range(lmax + 1)])``.

        Examples:
            >>> Irreps.spherical_harmonics(3)
            1x0e+1x1o+1x2e+1x3o
            >>> Irreps.spherical_harmonics(2, p=1)
            1x0e+1x1e+1x2e
        """
        lmax = _check_l(lmax)
        p = _check_p(p)
        return _new_irreps(_new_mul_irrep(1, _new_irrep(l, p**l)) for l in range(lmax + 1))

    # -- sizes --------------------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """The total dimension ``sum(mul * (2l + 1))``."""
        return sum(mul_ir.dim for mul_ir in self)

    @property
    def num_irreps(self) -> int:
        """The number of irreps, the sum of the multiplicities."""
        return sum(mul_ir.mul for mul_ir in self)

    @property
    def ls(self) -> list[int]:
        """The degree of every irrep, each repeated by its multiplicity (like e3nn-jax)."""
        return [ir.l for mul, ir in self for _ in range(mul)]

    @property
    def lmax(self) -> int:
        """The largest degree among the irreps of non-zero multiplicity.

        Raises:
            ValueError: when there is no irrep (empty, or all multiplicities zero).
        """
        ls = [ir.l for mul, ir in self if mul > 0]
        if not ls:
            raise ValueError(f"lmax is undefined for {self!r}, which holds no irrep")
        return max(ls)

    def slices(self) -> list[slice]:
        """The slice of each term in a flat array of dimension `dim`.

        Returns:
            One ``slice`` per term, in order.

        Examples:
            >>> Irreps("2x0e + 1o").slices()
            [slice(0, 2, None), slice(2, 5, None)]
        """
        out = []
        start = 0
        for mul_ir in self:
            out.append(slice(start, start + mul_ir.dim))
            start += mul_ir.dim
        return out

    def count(self, ir: Any) -> int:
        """The total multiplicity of one irrep.

        Args:
            ir: the irrep (anything `Irrep` accepts).

        Returns:
            The sum of the multiplicities of the terms equal to ``ir``.

        Examples:
            >>> Irreps("2x0e + 3x1o + 1o").count("1o")
            4
        """
        ir = _as_irrep(ir)
        return sum(mul for mul, other in self if other == ir)

    def __contains__(self, item: Any) -> bool:
        """``ir in irreps``: whether a term has the irrep ``ir`` (multiplicity 0 included).

        A `MulIrrep` is looked up as a whole term.
        """
        if isinstance(item, MulIrrep):
            return tuple.__contains__(self, item)
        ir = _as_irrep(item)
        return any(other == ir for _, other in self)

    def is_scalar(self) -> bool:
        """Whether every term is the scalar ``0e`` (like e3nn-jax, ``False`` for no terms).

        Returns:
            ``True`` if there is at least one term and all terms are ``0e``.

        Examples:
            >>> Irreps("2x0e + 0e").is_scalar(), Irreps("0e + 0o").is_scalar(), Irreps().is_scalar()
            (True, False, False)
        """
        return len(self) > 0 and all(ir.is_scalar() for _, ir in self)

    # -- normal forms -------------------------------------------------------------------------

    def remove_zero_multiplicities(self) -> Irreps:
        """Drop the terms of multiplicity 0.

        Returns:
            The irreps without the ``0xLP`` terms.

        Examples:
            >>> Irreps("4x0e + 0x1o + 2x3e").remove_zero_multiplicities()
            4x0e+2x3e
        """
        return _new_irreps(mul_ir for mul_ir in self if mul_ir.mul > 0)

    def unify(self) -> Irreps:
        """Merge consecutive terms with the same irrep (multiplicity-0 terms still separate).

        Returns:
            The irreps with runs of equal irreps merged.

        Examples:
            >>> Irreps("0e + 1o + 1o + 0x0e + 1o").unify()
            1x0e+2x1o+0x0e+1x1o
        """
        out: list[list[Any]] = []
        for mul, ir in self:
            if out and out[-1][1] == ir:
                out[-1][0] += mul
            else:
                out.append([mul, ir])
        return _new_irreps(_new_mul_irrep(mul, ir) for mul, ir in out)

    def simplify(self) -> Irreps:
        """Drop multiplicity-0 terms, then merge consecutive equal irreps (order is kept).

        Returns:
            The simplified irreps.

        Examples:
            >>> Irreps("1e + 1e + 0e").simplify()
            2x1e+1x0e
            >>> Irreps("1e + 0x0e + 1e + 0e + 1e").simplify()
            2x1e+1x0e+1x1e
        """
        return self.remove_zero_multiplicities().unify()

    def sort(self) -> IrrepsSort:
        """Sort the terms by irrep (stable, in the order of `Irrep`), like ``e3nn_jax``.

        Returns:
            `IrrepsSort` ``(irreps, p, inv)``: the sorted irreps, the permutation ``p`` (term
            ``i`` goes to position ``p[i]``) and its inverse ``inv`` (``sorted[j] = self[inv[j]]``).

        Examples:
            >>> Irreps("2o + 1e + 0e + 1e").sort()
            IrrepsSort(irreps=1x0e+1x1e+1x1e+1x2o, p=(3, 1, 0, 2), inv=(2, 1, 3, 0))
        """
        inv = tuple(sorted(range(len(self)), key=lambda i: self[i].ir._key()))
        p = [0] * len(inv)
        for position, index in enumerate(inv):
            p[index] = position
        return IrrepsSort(_new_irreps(self[i] for i in inv), tuple(p), inv)

    def regroup(self) -> Irreps:
        """Sort, then simplify: one term per irrep, in increasing order.

        Returns:
            The regrouped irreps.

        Examples:
            >>> Irreps("1e + 0e + 1e + 0x2e").regroup()
            1x0e+2x1e
        """
        return self.sort().irreps.simplify()

    def filter(
        self,
        keep: Any = None,
        *,
        drop: Any = None,
        lmax: int | None = None,
    ) -> Irreps:
        """Keep the terms that satisfy every given criterion (order is kept).

        ``keep`` and ``drop`` name irreps (multiplicities are ignored), or are predicates
        called on each `MulIrrep`.

        Args:
            keep: keep only these irreps: an irreps string, an `Irreps`, an `Irrep`, a list of
                irreps, or a predicate ``MulIrrep -> bool``. ``None`` keeps everything.
            drop: drop these irreps (same forms as ``keep``).
            lmax: drop the irreps of degree above ``lmax``.

        Returns:
            The filtered irreps.

        Examples:
            >>> irreps = Irreps("1e + 2e + 0e")
            >>> irreps.filter(["0e", "1e"]), irreps.filter(drop="2e + 2x1e"), irreps.filter(lmax=1)
            (1x1e+1x0e, 1x0e, 1x1e+1x0e)
            >>> Irreps("3x0e + 1x1o").filter(lambda mul_ir: mul_ir.mul > 1)
            3x0e
        """
        tests: list[Callable[[MulIrrep], bool]] = []
        if keep is not None:
            tests.append(_mul_irrep_predicate(keep))
        if drop is not None:
            dropped = _mul_irrep_predicate(drop)
            tests.append(lambda mul_ir: not dropped(mul_ir))
        if lmax is not None:
            if not _is_int(lmax):
                raise TypeError(f"lmax must be an int, got {lmax!r} ({_type_name(lmax)})")
            tests.append(lambda mul_ir: mul_ir.ir.l <= lmax)
        return _new_irreps(mul_ir for mul_ir in self if all(test(mul_ir) for test in tests))

    # -- sequence behaviour -------------------------------------------------------------------

    def __getitem__(self, index: Any) -> Any:
        """``irreps[i]`` is a `MulIrrep`; ``irreps[i:j]`` is an `Irreps`."""
        item = tuple.__getitem__(self, index)
        if isinstance(index, slice):
            return _new_irreps(item)
        return item

    def __add__(self, other: Any) -> Irreps:
        """Direct sum: the terms of ``self`` followed by those of ``other``."""
        return _new_irreps(tuple(self) + tuple(Irreps(other)))

    def __radd__(self, other: Any) -> Irreps:
        return Irreps(other) + self

    def __mul__(self, other: Any) -> Irreps:
        """``irreps * n``: every multiplicity times ``n``, like e3nn-jax (see `repeat`)."""
        if isinstance(other, Irreps):
            raise TypeError(
                "Irreps * Irreps is not defined: use tensor_product_irreps(irreps1, irreps2) "
                "for the irreps of a tensor product"
            )
        if not _is_int(other):
            return NotImplemented
        n = _check_mul(other)
        return _new_irreps(_new_mul_irrep(mul * n, ir) for mul, ir in self)

    __rmul__ = __mul__

    def repeat(self, n: int) -> Irreps:
        """The whole sequence of terms repeated ``n`` times.

        Args:
            n: the number of repetitions, ``>= 0``.

        Returns:
            ``self + self + ... + self`` (``n`` times).

        Examples:
            >>> Irreps("0e + 1o").repeat(2), 2 * Irreps("0e + 1o")
            (1x0e+1x1o+1x0e+1x1o, 2x0e+2x1o)
        """
        return _new_irreps(tuple(self) * _check_mul(n))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = Irreps(other)
            except ValueError:
                return False
        else:
            e3nn = _e3nn()
            if e3nn is not None and isinstance(other, e3nn.Irreps):
                other = Irreps(other)
        if isinstance(other, tuple):
            return tuple.__eq__(self, other)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return "+".join(map(repr, self)) if self else "Irreps()"

    def __str__(self) -> str:
        return "+".join(map(repr, self))

    def to_e3nn(self) -> Any:
        """The same irreps as an ``e3nn_jax.Irreps``.

        Returns:
            The ``e3nn_jax.Irreps`` with the same terms in the same order.

        Examples:
            >>> Irreps("2x0e + 1o").to_e3nn()
            2x0e+1x1o
        """
        import e3nn_jax

        return e3nn_jax.Irreps([(mul, (ir.l, ir.p)) for mul, ir in self])


def tensor_product_irreps(irreps1: Any, irreps2: Any, filter_ir_out: Any = None) -> Irreps:
    """The irreps of the full tensor product of two irreps, regrouped, as e3nn-jax computes them.

    Each pair of terms ``(mul1, ir1)``, ``(mul2, ir2)`` gives ``mul1 * mul2`` copies of every irrep
    in ``ir1 * ir2``; the result is sorted and simplified (`Irreps.regroup`).

    Args:
        irreps1: the irreps of the first input (anything `Irreps` accepts).
        irreps2: the irreps of the second input.
        filter_ir_out: if given, keep only these output irreps (an irreps string, an `Irreps`, an
            `Irrep` or a list of irreps).

    Returns:
        The regrouped output irreps (the same as ``e3nn_jax.tensor_product(irreps1, irreps2)``).

    Examples:
        >>> tensor_product_irreps("2x1e + 2e", "2e")
        1x0e+3x1e+3x2e+3x3e+1x4e
        >>> tensor_product_irreps("1o", "1o", filter_ir_out="0e + 1e")
        1x0e+1x1e
    """
    irreps1 = Irreps(irreps1).regroup()
    irreps2 = Irreps(irreps2).regroup()
    allowed = None if filter_ir_out is None else _irrep_set(filter_ir_out)
    out = [
        _new_mul_irrep(mul1 * mul2, ir)
        for mul1, ir1 in irreps1
        for mul2, ir2 in irreps2
        for ir in ir1 * ir2
        if allowed is None or ir in allowed
    ]
    return _new_irreps(out).regroup()


def _register_static_pytree(cls: type) -> None:
    """Make ``cls`` a pytree node without leaves: it rides in the tree structure (static)."""
    jax.tree_util.register_pytree_node(cls, lambda value: ((), value), lambda value, _: value)


for _cls in (Irrep, MulIrrep, Irreps):
    _register_static_pytree(_cls)
del _cls
