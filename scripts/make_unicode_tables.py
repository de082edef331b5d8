#!/usr/bin/env python3
"""Writes include/siamese/data/detail/unicode_tables.hpp: the Unicode tables of BERT's basic tokenization.

WordPieceTokenizer (include/siamese/data/wordpiece.hpp) must normalise and split text exactly as Hugging Face's
`tokenizers` does for BertNormalizer + BertPreTokenizer. That code is Rust and takes its Unicode data from three
places of different Unicode versions: the `unicode_categories` crate (control = Cc/Cf/Co/Cs, punctuation = P*,
nonspacing marks = Mn; an old Unicode version), `unicode-normalization-alignments` (NFD; also old) and Rust's
standard library (char::to_lowercase, char::is_whitespace; a recent version). No single Unicode version
reproduces it, so each table is derived from Python's `unicodedata` (its version is recorded in the header) and
then checked code point by code point against the tokenizers package itself; where the two differ, the package's
behaviour is what the table holds, and the number of such code points is printed and recorded.

Run once: python3 scripts/make_unicode_tables.py (it installs tokenizers into a virtual environment under
~/.cache/siamese when needed and runs itself again there).
"""
import os
import sys
import unicodedata as ud

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_tokenizers_env  # noqa: E402

hf_tokenizers_env.ensure()

import tokenizers  # noqa: E402
from tokenizers import normalizers, pre_tokenizers  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'include', 'siamese', 'data', 'detail',
                   'unicode_tables.hpp')

# Flag bits, as the C++ side names them (detail::unicode::...). DECOMP and LOWER are used here only: in the
# table they would split the ranges of alternating upper and lower case letters (2504 ranges instead of 947).
CONTROL, WHITESPACE, PUNCT, SPLIT_SPACE, MARK, CCC, DECOMP, LOWER = 1, 2, 4, 8, 16, 32, 64, 128
TABLE_FLAGS = CONTROL | WHITESPACE | PUNCT | SPLIT_SPACE | MARK | CCC
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3
ASCII_PUNCT = set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~')


def code_points():
    return (c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def main():
    clean = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False,
                                       lowercase=False)
    strip = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True,
                                       lowercase=False)
    lower = normalizers.BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=False,
                                       lowercase=True)
    nfd = normalizers.NFD()
    pre = pre_tokenizers.BertPreTokenizer()

    flags = bytearray(0x110000)
    differ = {}  # property -> code points where unicodedata's answer is not the package's

    def note(prop, c, mine, theirs):
        if mine != theirs:
            differ.setdefault(prop, []).append(c)

    lower_map, decomp = {}, {}
    for c in code_points():
        ch = chr(c)
        cat = ud.category(ch)
        f = 0
        # Cleaning: NUL, U+FFFD and "other" characters are removed; whitespace becomes ' '.
        out = clean.normalize_str(ch)
        assert out in ('', ' ', ch), hex(c)
        if out == '':
            f |= CONTROL
        elif out == ' ':
            f |= WHITESPACE
        note('control', c, c in (0, 0xFFFD) or (cat[0] == 'C' and ch not in '\t\n\r'), out == '')
        note('whitespace', c, ch in '\t\n\r' or (ch.isspace() and not 0x1C <= c <= 0x1F), out == ' ')
        # Pre-tokenization: split on whitespace (dropped), isolate punctuation.
        toks = [t for t, _ in pre.pre_tokenize_str('a' + ch + 'a')]
        if toks == ['a', 'a']:
            f |= SPLIT_SPACE
        elif toks == ['a', ch, 'a']:
            f |= PUNCT
        else:
            assert toks == ['a' + ch + 'a'], hex(c)
        note('split space', c, ch.isspace() and not 0x1C <= c <= 0x1F, bool(f & SPLIT_SPACE))
        note('punctuation', c, cat[0] == 'P' or ch in ASCII_PUNCT, bool(f & PUNCT))
        # Lower-casing, one code point at a time (Rust's char::to_lowercase, no final-sigma context).
        low = lower.normalize_str(ch)
        note('lowercase', c, ch.lower(), low)
        if low != ch:
            f |= LOWER
            lower_map[c] = [ord(x) for x in low]
        # NFD of one code point, and what stripping accents leaves of it.
        d = nfd.normalize_str(ch)
        note('nfd', c, ud.normalize('NFD', ch), d)
        if d != ch:
            if not HANGUL_FIRST <= c <= HANGUL_LAST:
                f |= DECOMP
                decomp[c] = [ord(x) for x in d]
        elif strip.normalize_str(ch) == '':
            f |= MARK
        note('nonspacing mark', c, cat == 'Mn', bool(f & MARK))
        flags[c] = f

    # Canonical combining class, as far as it matters: which code points have a nonzero class (they are
    # reordered within a run of such code points; a class-0 code point ends the run). U+0345 has the highest
    # class (240): a code point c is reordered before it iff 0 < ccc(c) < 240.
    ypogegrammeni = '\u0345'
    for c in code_points():
        ch = chr(c)
        if flags[c] & DECOMP or HANGUL_FIRST <= c <= HANGUL_LAST:
            continue
        nz = c == 0x345 or nfd.normalize_str(ypogegrammeni + ch) == ch + ypogegrammeni
        note('nonzero combining class', c, ud.combining(ch) != 0, nz)
        if nz:
            flags[c] |= CCC

    # Code points that survive accent stripping yet have a nonzero class keep their order by class; their class
    # comes from unicodedata, checked against reference marks of every class.
    survivors = {c: ud.combining(chr(c)) for c in code_points() if flags[c] & CCC and not flags[c] & MARK}
    references = {}
    for c in range(0x300, 0x1E000):
        k = ud.ucd_3_2_0.combining(chr(c))
        if k and ud.combining(chr(c)) == k and flags[c] & CCC and k not in references:
            references[k] = chr(c)
    for s, k in survivors.items():
        assert k != 0, hex(s)
        for rk, r in references.items():
            if ord(r) == s:
                continue
            swapped = nfd.normalize_str(r + chr(s)) == chr(s) + r
            assert swapped == (k < rk), (hex(s), k, rk)

    # Decompositions: a component that accent stripping drops and that has a nonzero class changes nothing
    # (it is removed after reordering and does not end a run), so the table leaves it out.
    def kept(x):
        return not (flags[x] & MARK and flags[x] & CCC)

    decomp = {c: [x for x in d if kept(x)] for c, d in decomp.items()}
    for c, d in decomp.items():
        for x in d:
            assert not flags[x] & DECOMP, hex(c)  # NFD is already the full decomposition
    # Accent stripping of one code point, recomputed from the tables, must be what the package does.
    for c in code_points():
        ch = chr(c)
        if HANGUL_FIRST <= c <= HANGUL_LAST:
            continue
        parts = decomp.get(c, [c])
        mine = ''.join(chr(x) for x in parts if not flags[x] & MARK)
        assert mine == strip.normalize_str(ch), hex(c)
    # Hangul syllables decompose by formula (C++ side); the package agrees.
    for c in range(HANGUL_FIRST, HANGUL_LAST + 1):
        s = c - HANGUL_FIRST
        want = chr(0x1100 + s // 588) + chr(0x1161 + (s % 588) // 28) + (chr(0x11A7 + s % 28) if s % 28 else '')
        assert nfd.normalize_str(chr(c)) == want, hex(c)
        assert not flags[c] & (LOWER | MARK | CCC | PUNCT)

    write(flags, lower_map, decomp, survivors, differ)


def ranges_of(flags):
    out, prev = [], None
    for c in range(0x110000):
        f = flags[c] & TABLE_FLAGS
        if f != prev:
            out.append((c, f))
            prev = f
    return out


def lower_runs(lower_map):
    """Single code point mappings as runs (first, last, delta, stride); longer ones listed apart."""
    singles = sorted((c, m[0] - c) for c, m in lower_map.items() if len(m) == 1)
    runs = []
    for c, delta in singles:
        if runs:
            first, last, d, stride = runs[-1]
            if d == delta and (stride == 0 or c - last == stride) and c - last in (1, 2):
                runs[-1] = (first, c, d, c - last)
                continue
        runs.append((c, c, delta, 0))
    runs = [(a, b, d, s or 1) for a, b, d, s in runs]
    multi = sorted((c, m) for c, m in lower_map.items() if len(m) > 1)
    return runs, multi


def rows(items, per_line):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append('    ' + ' '.join(items[i:i + per_line]))
    return '\n'.join(lines)


def write(flags, lower_map, decomp, survivors, differ):
    ranges = ranges_of(flags)
    runs, multi = lower_runs(lower_map)
    assert all(len(m) <= 3 for _, m in multi)
    singles = sorted((c, d[0]) for c, d in decomp.items() if len(d) == 1)
    multis = sorted((c, d) for c, d in decomp.items() if len(d) != 1)
    pool, entries = [], []
    for c, d in multis:
        entries.append((c, len(pool), len(d)))
        pool.extend(d)
    assert len(pool) < 65536 and all(len(d) <= 4 for _, d in multis)  # detail::unicode::max_decomposition
    diff_note = ', '.join('%s %d' % (k, len(v)) for k, v in sorted(differ.items())) or 'none'
    py = '%d.%d.%d' % sys.version_info[:3]
    text = f'''#pragma once
// Generated by scripts/make_unicode_tables.py: do not edit.
// Unicode data of BERT's basic tokenization as Hugging Face tokenizers {tokenizers.__version__} applies it, from
// Python {py}'s unicodedata (Unicode {ud.unidata_version}), checked code point by code point against that package
// (whose Rust crates use other Unicode versions). Code points where the package differs from Unicode
// {ud.unidata_version} and the table follows the package: {diff_note}.
#include <cstdint>

namespace siamese::detail::unicode {{

inline constexpr const char* unicode_version = "{ud.unidata_version}";
inline constexpr const char* tokenizers_version = "{tokenizers.__version__}";

// Flags of a code point (several may be set).
inline constexpr std::uint8_t control = {CONTROL};      // removed by cleaning (NUL, U+FFFD, Cc/Cf/Co/Cs but tab/LF/CR)
inline constexpr std::uint8_t whitespace = {WHITESPACE};   // becomes ' ' in cleaning (tab, LF, CR, White_Space)
inline constexpr std::uint8_t punctuation = {PUNCT};  // a token of its own (ASCII punctuation, P*)
inline constexpr std::uint8_t split_space = {SPLIT_SPACE};  // separates words and is dropped (White_Space)
inline constexpr std::uint8_t mark = {MARK};        // nonspacing mark (Mn): removed after NFD when stripping accents
inline constexpr std::uint8_t nonzero_ccc = {CCC}; // nonzero canonical combining class (NFD reorders runs of them)

struct FlagRange {{
  char32_t first;  // the flags hold from here to the next range's first code point
  std::uint8_t flags;
}};
inline constexpr FlagRange flag_ranges[] = {{
{rows(['{0x%X,%d},' % r for r in ranges], 8)}
}};

// lower(c) = c + delta for c in [first, last] with (c - first) % stride == 0.
struct LowerRun {{
  char32_t first, last;
  std::int32_t delta;
  std::uint8_t stride;
}};
inline constexpr LowerRun lower_runs[] = {{
{rows(['{0x%X,0x%X,%d,%d},' % r for r in runs], 5)}
}};
// Code points whose lower case is several code points (0-terminated).
struct LowerMulti {{
  char32_t from;
  char32_t to[4];
}};
inline constexpr LowerMulti lower_multi[] = {{
{rows(['{0x%X,{%s}},' % (c, ','.join('0x%X' % x for x in m)) for c, m in multi], 4)}
}};

// Canonical decompositions (full NFD) without the nonspacing marks of nonzero class, which accent stripping
// removes after reordering and which do not end a reordering run.
struct NfdSingle {{
  char32_t from, to;
}};
inline constexpr NfdSingle nfd_single[] = {{
{rows(['{0x%X,0x%X},' % e for e in singles], 10)}
}};
struct NfdMulti {{
  char32_t from;
  std::uint16_t offset;
  std::uint8_t length;
}};
inline constexpr NfdMulti nfd_multi[] = {{
{rows(['{0x%X,%d,%d},' % e for e in entries], 6)}
}};
inline constexpr char32_t nfd_pool[] = {{
{rows(['0x%X,' % x for x in pool], 10)}
}};

// Canonical combining class of the code points that accent stripping keeps but that have a nonzero class.
struct CombiningClass {{
  char32_t cp;
  std::uint8_t ccc;
}};
inline constexpr CombiningClass kept_ccc[] = {{
{rows(['{0x%X,%d},' % e for e in sorted(survivors.items())], 8)}
}};

}}  // namespace siamese::detail::unicode
'''
    with open(OUT, 'w', encoding='utf-8') as f:
        f.write(text)
    print('wrote %s: %d flag ranges, %d lower runs, %d multi, %d+%d decompositions (pool %d), %d kept ccc; '
          'package differs from Unicode %s at: %s' % (os.path.normpath(OUT), len(ranges), len(runs), len(multi),
                                                     len(singles), len(entries), len(pool), len(survivors),
                                                     ud.unidata_version, diff_note))


if __name__ == '__main__':
    main()
