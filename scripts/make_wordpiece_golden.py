#!/usr/bin/env python3
"""Writes tests/text/data/wordpiece_golden.tsv: Hugging Face's token ids for about 700 varied texts.

The golden test of WordPieceTokenizer (tests/text/test_wordpiece.cpp). The ids come from the `tokenizers`
package (pinned in hf_tokenizers_env.py, installed into a virtual environment under ~/.cache/siamese when
missing; no torch) loading all-MiniLM-L6-v2's tokenizer.json from the folder scripts/fetch_minilm prints, with
truncation and fixed padding as sentence-transformers encodes: [CLS] ... [SEP], cut to the maximum length,
padded with [PAD] = 0 (to the full length, where sentence-transformers pads to the longest text of a batch).

Texts: hand-written ones (English with punctuation, numbers, contractions, URLs and e-mail addresses, accents,
long words, words over 100 characters, German, French, Spanish, Greek, Cyrillic, Arabic, Hebrew, Hindi, Thai,
Chinese, Japanese, Korean, emoji, control characters, tabs and newlines, zero-width characters, combining marks,
mixed case, special tokens written in the text, empty and whitespace-only texts, invalid UTF-8), real dictionary
definitions (WordNet 3.0 glosses from Debian's wordnet-base, /usr/share/wordnet), very long texts, and texts
mixed from all of these or made of code points drawn from many Unicode blocks, with a fixed seed.
Texts are bytes; HF sees them decoded with errors='replace' (it takes only valid Unicode), the C++ test the bytes.

Each line: TEXT <tab> L128 <tab> IDS128 <tab> L16 <tab> IDS16 <tab> ALL, where TEXT is escaped (\\\\, \\t, \\n,
\\r, \\xHH for a raw byte, \\u{HEX} for any other code point that is not printable), Ln is the attention mask's
length (real tokens) at maximum length n, IDSn the ids before the padding (space-separated; the rest up to n
are 0), and ALL the ids of the whole text without [CLS]/[SEP] and without truncation.

Run: python3 scripts/make_wordpiece_golden.py
"""
import hashlib
import json
import os
import random
import subprocess
import sys
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_tokenizers_env  # noqa: E402

hf_tokenizers_env.ensure()

import tokenizers  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'tests', 'text', 'data', 'wordpiece_golden.tsv')
OUT_CODE_POINTS = os.path.join(HERE, '..', 'tests', 'text', 'data', 'bert_words_by_code_point.tsv')
CHUNK = 1024
WORDNET = '/usr/share/wordnet'
LENGTHS = (128, 16)


def hand_written():
    t = []
    t += [
        "The quick brown fox jumps over the lazy dog.",
        "Hello, world!", "Hello,world!", "hello world", "HELLO WORLD", "HeLLo WoRLd", "hElLo, WORLD?!",
        "What's up? I'm fine, you're late, they'd've known, it isn't, won't, can't, y'all, o'clock.",
        "Don't stop believin'.", "Rock 'n' roll", "\"Quoted\" and 'single-quoted' text.",
        "It costs $1,234.56 (about €1.000,00 or £999) — 12% off!", "3.14159 2.71828 1e-10 -42 +7 0x1F 1,000,000",
        "Call +1 (555) 123-4567 or 555.123.4567 ext. 89", "On 2024-01-15T10:30:00Z at 10:30am; 1st, 2nd, 3rd, 4th.",
        "Visit https://www.example.com/path/to/page?query=1&other=two#frag for more.",
        "ftp://files.example.org/pub/README.txt and http://localhost:8080/api/v1/users/42",
        "Write to john.doe+filter@example.co.uk or jane_doe99@sub.domain.org.",
        "@mention #hashtag $TICKER %percent ^caret &amp *star (paren) [bracket] {brace} <angle> |pipe| ~tilde `tick`",
        "a.b.c d-e-f g_h_i j/k/l m\\n\\o p:q;r s,t u?v w!x y=z",
        "!!!???...,,,;;;:::---___***", "....", "!", "?", "-", "a-", "-a", "--a--",
        "café naïve Ångström résumé façade coöperate jalapeño piñata Zürich Øresund Łódź Dvořák",
        "CAFÉ NAÏVE ÅNGSTRÖM", "Crème brûlée à la mode", "São Paulo, Bogotá, Reykjavík, Kraków, İstanbul, Şişli",
        "antidisestablishmentarianism", "pneumonoultramicroscopicsilicovolcanoconiosis",
        "supercalifragilisticexpialidocious", "floccinaucinihilipilification", "hippopotomonstrosesquippedaliophobia",
        "unbelievably counterrevolutionaries electroencephalographically uncharacteristically",
        "Donaudampfschifffahrtsgesellschaftskapitänswitwe", "Rindfleischetikettierungsüberwachungsaufgabenübertragungsgesetz",
        "x" * 100, "x" * 101, "y" * 99 + " " + "z" * 102, "ab" * 50, "ab" * 51, "é" * 100, "é" * 101,
        "word " + "a" * 150 + " word", "https://example.com/" + "verylongpath" * 10,
        "Der schnelle braune Fuchs springt über den faulen Hund. Größe, Straße, Mädchen, Übermut.",
        "Le cœur a ses raisons que la raison ne connaît point. L'été, où êtes-vous ? « Bien sûr ! »",
        "El niño comió pingüino asado. ¿Dónde está la biblioteca? ¡Qué día tan bonito!",
        "Il était une fois, dans un château près d'Orléans, une princesse très âgée.",
        "Ελληνικά: Η γρήγορη καφέ αλεπού πηδάει πάνω από το τεμπέλικο σκυλί. ΟΔΟΣ Σίσυφος ς.",
        "Русский: Съешь же ещё этих мягких французских булок, да выпей чаю. ЁЛКА ёлка Йод.",
        "Українська: Чуєш їх, доцю, га? Кумедна ж ти, прощайся без ґольфів!",
        "العربية: نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق.",
        "مَرْحَبًا بِكُمْ فِي الْعَالَمِ", "עברית: דג סקרן שט בים מאוכזב ולפתע מצא חברה.", "שָׁלוֹם עֲלֵיכֶם",
        "हिन्दी: ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले विष्णुवतार भगवान श्रीराम।",
        "नमस्ते दुनिया", "ไทย: เป็นมนุษย์สุดประเสริฐเลิศคุณค่า กว่าบรรดาฝูงสัตว์เดรัจฉาน",
        "中文：我能吞下玻璃而不伤身体。", "我爱北京天安门", "漢字とひらがなとカタカナ", "日本語のテキスト：いろはにほへと ちりぬるを",
        "カタカナ ｶﾀｶﾅ ﾊﾝｶｸ", "한국어: 키스의 고유조건은 입술끼리 만나야 하고 특별한 기술은 필요치 않다.", "안녕하세요 세계",
        "Mixed 中文 and English, 日本 and 한국 together.", "㐀㐁 𠀀𠀁 𪜀 𫝀 𫠠 𬺰 丽 豈 﨑",
        "Emoji: 😀 😃 😄 😁 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ ✨ 🥰 🫠 🪿", "I ❤ NY ☃ ★ ☆ ♪ ♫ © ® ™ ° ± × ÷ ∞ ≠ ≤ ≥",
        "Math: ∀x∈ℝ, ∃y: x²+y²=z² ∑ ∏ ∫ √ ∂ ∇ ⊂ ⊃ ∪ ∩", "Arrows → ← ↑ ↓ ⇒ ⇔ and boxes ┌─┐ │ └─┘ ▲▼◆●",
        "Control\x00chars\x01here\x07\x08\x1b[31mred\x1b[0m and DEL\x7f.", "tab\tseparated\tvalues",
        "line one\nline two\r\nline three\rend", "\t\n\r\x0b\x0c", "a\u0085b\u00a0c\u1680d\u2000e\u2028f\u2029g\u3000h",
        "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom\u2060wj", "soft\u00adhyphen", "rtl\u200fmark\u200eltr \u202aembed\u202c",
        "e\u0301 a\u0300 o\u0308 n\u0303 c\u0327 combining", "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319alg\u0324o\u0318",
        "\u0130stanbul \u0131 \u0049 \u0069", "Straße STRASSE ß ẞ", "ﬁ ﬂ ﬀ ligatures", "Ⅻ ⅻ ① ⑳ ¼ ½ ¾ ² ³",
        "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３", "Ǆ ǅ ǆ Ǳ ǲ ǳ", "ΣΑΣ σας ς Σ", "ᾼ ᾳ ῼ ῳ ͅ",
        "Private use \ue000\uf8ff and noncharacters \ufdd0 \ufffe \U0010ffff", "Replacement \ufffd char",
        "Unassigned \u0378 \u0379 \U0001fae9 new emoji \U0001fae8 and Cf \u0890 \u08e2",
        "Kaithi \U000110cd Egyptian \U00013430 format", "Musical \U0001d165\U0001d16d\U0001d165 symbols",
        "Arabic extended \u0898\u0899 \u08ca\u08d4 marks", "Ideographic description ⿰⿱ and radicals ⺀⻳ ⼀⿕",
        "[CLS] [SEP] [PAD] [UNK] [MASK]", "Hello [MASK] world", "[CLS]already[SEP]", "[cls] lower-case specials",
        "[[CLS]] [SEP[SEP]] [PA D] [MASK", "a[PAD]b[UNK]c", "[MASK][MASK][MASK]", "[ CLS ]",
        "", " ", "   ", "\t", "\n", "\r\n", " \t \n ", "\u3000", "\u200b", "\x00", "\x00\x00 \x01",
        "a", "A", "z", "0", "9", "é", "É", "ß", "中", "😀", "ア", "가",
        "UPPER lower MiXeD CamelCase snake_case kebab-case SCREAMING_SNAKE",
        "iPhone eBay McDonald's O'Neil MacBook PowerPoint JavaScript TypeScript",
        "C++ C# F# .NET Node.js Vue.js ASP.NET", "e.g. i.e. etc. vs. Mr. Mrs. Dr. Prof. U.S.A. Ph.D.",
        "The year 1999 and 2000s; the 90's; '80s; 4x4; 1080p; 24/7; 9-to-5; 50-50.",
        "Temperatures of -40°C = -40°F; 100 km/h ≈ 62 mph; 5′11″ tall.",
        "Hashes: d41d8cd98f00b204e9800998ecf8427e and 0123456789abcdef0123456789ABCDEF",
        "UUID 123e4567-e89b-12d3-a456-426614174000 version 1.2.3-beta+build.45",
        "<html><body><p class=\"x\">Hello &amp; welcome</p></body></html>",
        "{\"key\": [1, 2, 3], \"nested\": {\"a\": null, \"b\": true}}",
        "def f(x): return x ** 2 if x > 0 else -x  # comment",
        "SELECT * FROM users WHERE id = 42 AND name LIKE '%smith%';",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore.",
        "To be, or not to be, that is the question: Whether 'tis nobler in the mind to suffer",
        "It was the best of times, it was the worst of times, it was the age of wisdom...",
        "Ask not what your country can do for you – ask what you can do for your country.",
        "unaffable unbelievable undeniable uncopyrightable ununderstandable",
        "Thermodynamically, the photosynthesising cyanobacteria outcompeted heterotrophic microorganisms.",
        "Pseudopseudohypoparathyroidism and spectrophotofluorometrically measured.",
        "Tokenization of wordpieces: un##known ##suffix ## # ### #hash",
        "\u00ad\u00ad", "\u0301", "\u0301\u0301a", "a\u0301\u0302\u0303\u0304", "\u1100\u1161\u11a8 jamo",
        "\uac00\ub098\ub2e4\ub77c \ud55c\uae00", "ＡＢＣ－１２３", "\u2460\u2461\u2462", "\u00bd\u2153\u215e",
    ]
    # Invalid UTF-8, as bytes: HF is given the text decoded with errors='replace'.
    b = [
        b"invalid \xff byte", b"truncated \xe2\x82", b"truncated then ascii \xe2\x82A", b"overlong \xc0\xaf slash",
        b"surrogate \xed\xa0\x80 half", b"above max \xf4\x90\x80\x80 cp", b"stray continuation \x80\x81\xbf here",
        b"\xf0\x9f\x98 broken emoji", b"\xc3", b"caf\xc3", b"\xc3\xa9t\xc3\xa9 valid then \xfe\xfe",
        b"mixed \xe4\xb8\xad\xff\xe6\x96\x87", b"\xef\xbb\xbfbom at start", b"\xf5\xf6\xf7\xf8 invalid leads",
        b"\xe0\x80\x80 overlong three", b"\xf0\x80\x80\x80 overlong four", b"ok[CLS]\xffbad[SEP]",
    ]
    return [s.encode('utf-8') for s in t] + b


def wordnet_glosses(n, rng):
    """Real definitions: WordNet 3.0 glosses (definition and examples), a fixed-seed sample."""
    glosses = []
    for pos in ('noun', 'verb', 'adj', 'adv'):
        path = os.path.join(WORDNET, 'data.' + pos)
        if not os.path.exists(path):
            sys.exit('%s is missing: install Debian\'s wordnet-base (scripts/setup wordnet-base)' % path)
        with open(path, encoding='utf-8') as f:
            for line in f:
                if line.startswith('  ') or ' | ' not in line:
                    continue
                glosses.append(line.split(' | ', 1)[1].strip())
    return rng.sample(glosses, n)


BLOCKS = [  # (first, last) code point ranges sampled for the soup texts
    (0x20, 0x7E), (0xA0, 0x17F), (0x180, 0x24F), (0x250, 0x2FF), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF),
    (0x530, 0x58F), (0x590, 0x5FF), (0x600, 0x6FF), (0x700, 0x8FF), (0x900, 0x97F), (0x980, 0xDFF),
    (0xE00, 0xE7F), (0xE80, 0x10FF), (0x1100, 0x11FF), (0x1200, 0x1FFF), (0x2000, 0x206F), (0x2070, 0x2BFF),
    (0x2C00, 0x2E7F), (0x2E80, 0x2FFF), (0x3000, 0x30FF), (0x3100, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xA000, 0xABFF), (0xAC00, 0xD7FF), (0xE000, 0xE0FF), (0xF900, 0xFAFF), (0xFB00, 0xFFFF),
    (0x10000, 0x1BFFF), (0x1D000, 0x1D1FF), (0x1E000, 0x1FAFF), (0x20000, 0x2FA1F), (0x30000, 0x3134F),
    (0xE0000, 0xE01EF), (0xF0000, 0xF00FF),
]


def soup(rng, length):
    out = []
    for _ in range(length):
        r = rng.random()
        if r < 0.15:
            out.append(' ')
        elif r < 0.35:
            out.append(chr(rng.randint(0x61, 0x7A)))
        else:
            lo, hi = rng.choice(BLOCKS)
            c = rng.randint(lo, hi)
            if 0xD800 <= c <= 0xDFFF:
                c = 0xFFFD
            out.append(chr(c))
    return ''.join(out)


def texts():
    rng = random.Random(20240601)
    hand = hand_written()
    defs = [g.encode('utf-8') for g in wordnet_glosses(150, rng)]
    out = hand + defs
    # Very long texts: truncation at 128 and at 16.
    words = b' '.join(defs[:40]).split()
    for k in range(25):
        out.append(b' '.join(rng.choice(words) for _ in range(rng.randint(60, 400))))
    out.append(b'word ' * 2000)
    out.append(('\u4e2d\u6587' * 500).encode('utf-8'))
    out.append(b'a,' * 1000)
    # Mixtures of the hand-written texts and definitions.
    for k in range(200):
        parts = [rng.choice(hand + defs) for _ in range(rng.randint(2, 5))]
        sep = rng.choice([b' ', b'', b'\t', b'\n', b', ', b'[SEP]', b' [MASK] '])
        mixed = sep.join(parts)
        if rng.random() < 0.3:
            mixed = mixed.upper() if rng.random() < 0.5 else mixed.swapcase()
        out.append(mixed)
    # Code points from many blocks (assigned or not, marks, controls, private use, new emoji...).
    for k in range(150):
        out.append(soup(rng, rng.randint(1, 60)).encode('utf-8'))
    # Accented letters, decomposed and not.
    for k in range(30):
        s = ''.join(rng.choice('aeiounAEIOUNcCyYsSzZ ') + rng.choice(['', '\u0301', '\u0300', '\u0308', '\u0303',
                                                                      '\u0327', '\u030a', '\u0323\u0302'])
                    for _ in range(rng.randint(3, 30)))
        out.append((s if k % 2 else unicodedata.normalize('NFC', s)).encode('utf-8'))
    seen, unique = set(), []
    for t in out:
        if t not in seen:
            seen.add(t)
            unique.append(t)
    return unique


def escape(b):
    out, i = [], 0
    while i < len(b):
        for n in (1, 2, 3, 4):
            try:
                ch = b[i:i + n].decode('utf-8')
                break
            except UnicodeDecodeError:
                ch = None
        if ch is None:
            out.append('\\x%02x' % b[i])
            i += 1
            continue
        i += len(ch.encode('utf-8'))
        if ch == '\\':
            out.append('\\\\')
        elif ch in '\t\n\r':
            out.append({'\t': '\\t', '\n': '\\n', '\r': '\\r'}[ch])
        elif ch.isprintable() and ch != '\u3000' and not (0xE000 <= ord(ch) <= 0xF8FF):
            out.append(ch)
        else:
            out.append('\\u{%x}' % ord(ch))
    return ''.join(out)


def main():
    folder = subprocess.check_output([os.path.join(HERE, 'fetch_minilm')], text=True).strip()
    path = os.path.join(folder, 'tokenizer.json')
    with open(os.path.join(folder, 'vocab.txt'), 'rb') as f:
        vocab_bytes = f.read()
    vocab = vocab_bytes.decode('utf-8').split('\n')[:-1]
    with open(path, encoding='utf-8') as f:
        model_vocab = json.load(f)['model']['vocab']
    assert model_vocab == {t: i for i, t in enumerate(vocab)}, 'vocab.txt is not tokenizer.json\'s vocabulary'

    all_texts = texts()
    decoded = [t.decode('utf-8', errors='replace') for t in all_texts]
    results = {}
    for n in LENGTHS:
        tok = Tokenizer.from_file(path)
        tok.enable_truncation(max_length=n)
        tok.enable_padding(length=n, pad_id=0, pad_token='[PAD]')
        results[n] = []
        for enc in tok.encode_batch(decoded):
            ids, mask = enc.ids, enc.attention_mask
            assert len(ids) == n
            real = sum(mask)
            assert mask == [1] * real + [0] * (n - real) and all(i == 0 for i in ids[real:])
            results[n].append((real, ids[:real]))
    full = Tokenizer.from_file(path)
    full.no_truncation()
    full.no_padding()
    alls = [e.ids for e in full.encode_batch(decoded, add_special_tokens=False)]

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w', encoding='utf-8', newline='\n') as f:
        f.write('# Generated by scripts/make_wordpiece_golden.py: do not edit. tokenizers %s, all-MiniLM-L6-v2 '
                'tokenizer.json, vocab.txt SHA-256 %s\n' % (tokenizers.__version__,
                                                             hashlib.sha256(vocab_bytes).hexdigest()))
        f.write('# text\tlen128\tids128\tlen16\tids16\tall ids (no [CLS]/[SEP], not truncated)\n')
        for k, t in enumerate(all_texts):
            cols = [escape(t)]
            for n in LENGTHS:
                real, ids = results[n][k]
                cols += [str(real), ' '.join(map(str, ids))]
            cols.append(' '.join(map(str, alls[k])))
            f.write('\t'.join(cols) + '\n')
    unk = sum(1 for a in alls if 100 in a)
    trunc = sum(1 for a in alls if len(a) > 126)
    print('wrote %s: %d texts (%d with [UNK], %d truncated at 128), %d bytes' %
          (os.path.normpath(OUT), len(all_texts), unk, trunc, os.path.getsize(OUT)))


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def write_code_points():
    """Every code point through basic tokenization: for each block of CHUNK code points (surrogates left out),
    the FNV-1a 64 hash of HF's words (normalised, pre-tokenized) of the block in order, then of the block
    reversed, all joined by '\\n', for the uncased default (lower-case, strip accents, CJK) and cased without
    any of these."""
    from tokenizers import normalizers, pre_tokenizers
    modes = [normalizers.BertNormalizer(lowercase=True),
             normalizers.BertNormalizer(lowercase=False, strip_accents=False, handle_chinese_chars=False)]
    pre = pre_tokenizers.BertPreTokenizer()
    with open(OUT_CODE_POINTS, 'w', encoding='utf-8', newline='\n') as f:
        f.write('# Generated by scripts/make_wordpiece_golden.py: do not edit. tokenizers %s. Per block of %d code '
                'points from FIRST (surrogates left out): FNV-1a 64 of the words of the block in order then reversed, '
                'joined by newlines, uncased (BERT defaults) and cased (no lower-casing, accents, CJK spacing)\n'
                % (tokenizers.__version__, CHUNK))
        for first in range(0, 0x110000, CHUNK):
            text = ''.join(chr(c) for c in range(first, first + CHUNK) if not 0xD800 <= c <= 0xDFFF)
            cols = ['%X' % first]
            for norm in modes:
                words = [w for t in (text, text[::-1]) for w, _ in pre.pre_tokenize_str(norm.normalize_str(t))]
                cols.append('%016x' % fnv1a64('\n'.join(words).encode('utf-8')))
            f.write('\t'.join(cols) + '\n')
    print('wrote %s' % os.path.normpath(OUT_CODE_POINTS))


if __name__ == '__main__':
    main()
    write_code_points()
