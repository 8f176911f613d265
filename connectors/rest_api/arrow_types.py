"""Arrow types by name, for the `schema:` of a REST stream in YAML and for saved inferred schemas.

    int8 … int64, uint8 … uint64, float32, float64, bool, string, binary, date, json
    timestamp               = timestamp(us, UTC)    timestamp(ms) / timestamp(us, America/Chicago)
    decimal(12, 2)          list<string>            struct<street: string, zip: string>
    aliases: int/integer = int64, float/double/number = float64, boolean = bool, str/text = string

`json` keeps any value as its JSON text (a string column). `arrow_type_name` is the inverse, so a
schema written with these names reads back to the same Arrow schema.
"""

from __future__ import annotations

import pyarrow as pa

_SIMPLE: dict[str, pa.DataType] = {
    **{f"int{n}": getattr(pa, f"int{n}")() for n in (8, 16, 32, 64)},
    **{f"uint{n}": getattr(pa, f"uint{n}")() for n in (8, 16, 32, 64)},
    "int": pa.int64(), "integer": pa.int64(), "float32": pa.float32(), "float64": pa.float64(),
    "float": pa.float64(), "double": pa.float64(), "number": pa.float64(), "bool": pa.bool_(),
    "boolean": pa.bool_(), "string": pa.string(), "str": pa.string(), "text": pa.string(), "json": pa.string(),
    "large_string": pa.large_string(), "binary": pa.binary(), "date": pa.date32(), "date32": pa.date32(),
}
NAMES_HELP = ("int8..int64, uint8..uint64, float32, float64, bool, string, binary, date, json, "
              "timestamp[(unit[, tz])], decimal(precision, scale), list<T>, struct<name: T, ...>")
_UNITS = ("s", "ms", "us", "ns")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def fail(self, message: str) -> ValueError:
        return ValueError(f"{message} in {self.text!r} (types: {NAMES_HELP})")

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise self.fail(f"expected {char!r} at position {self.pos}")
        self.pos += 1

    def word(self, stop: str = "<>(),: ") -> str:
        self.skip()
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in stop:
            self.pos += 1
        return self.text[start:self.pos]

    def args(self) -> list[str]:
        self.expect("(")
        out = [self.word()]
        while self.peek() == ",":
            self.pos += 1
            out.append(self.word("(),"))
        self.expect(")")
        return [a.strip() for a in out]

    def type_(self) -> pa.DataType:
        name = self.word().lower()
        if name == "list":
            self.expect("<")
            inner = self.type_()
            self.expect(">")
            return pa.list_(inner)
        if name == "struct":
            self.expect("<")
            fields = []
            while True:
                field = self.word("<>(),:").strip()
                if not field:
                    raise self.fail("a struct field needs a name")
                self.expect(":")
                fields.append(pa.field(field, self.type_()))
                if self.peek() != ",":
                    break
                self.pos += 1
            self.expect(">")
            return pa.struct(fields)
        if name == "decimal":
            args = self.args()
            if len(args) != 2 or not all(a.isdigit() for a in args):
                raise self.fail("decimal needs (precision, scale), e.g. decimal(12, 2)")
            precision, scale = int(args[0]), int(args[1])
            if not 1 <= precision <= 76 or scale > precision:
                raise self.fail("decimal precision must be 1..76 and scale at most the precision")
            return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        if name == "timestamp":
            if self.peek() != "(":
                return pa.timestamp("us", tz="UTC")
            args = self.args()
            if args[0] not in _UNITS or len(args) > 2:
                raise self.fail("timestamp takes (unit[, timezone]) with unit one of s, ms, us, ns")
            return pa.timestamp(args[0], tz=args[1] if len(args) == 2 else None)
        if name in _SIMPLE:
            return _SIMPLE[name]
        raise self.fail(f"unknown type {name!r}")


def parse_arrow_type(text: str) -> pa.DataType:
    parser = _Parser(text)
    result = parser.type_()
    if parser.peek():
        raise parser.fail(f"unexpected {parser.text[parser.pos:]!r}")
    return result


def arrow_type_name(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        if t.unit == "us" and t.tz == "UTC":
            return "timestamp"
        return f"timestamp({t.unit}, {t.tz})" if t.tz else f"timestamp({t.unit})"
    if pa.types.is_decimal(t):
        return f"decimal({t.precision}, {t.scale})"
    if pa.types.is_list(t):
        return f"list<{arrow_type_name(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ", ".join(f"{f.name}: {arrow_type_name(f.type)}" for f in t) + ">"
    if t == pa.date32():
        return "date"
    if t == pa.bool_():
        return "bool"
    name = str(t)
    if name in _SIMPLE and _SIMPLE[name] == t:
        return name
    raise ValueError(f"no name for Arrow type {t}")
