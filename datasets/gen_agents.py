#!/usr/bin/env python3
"""Writes datasets/agents.jsonl: kefu's sample agent roster (deterministic).

Run: python3 datasets/gen_agents.py > datasets/agents.jsonl
Each line is an AgentSpec (see engine/src/route/model.rs).
"""
import json
import random

rng = random.Random(20261125)

FIRST = ["Li", "Wang", "Zhang", "Chen", "Liu", "Ana", "Lucia", "Mateo", "Sofia", "Diego", "Jonas", "Lena",
         "Felix", "Marie", "Lukas", "Camille", "Hugo", "Chloe", "Louis", "Ines", "Joao", "Beatriz", "Rafael",
         "Yuki", "Haruto", "Aiko", "Omar", "Layla", "Youssef", "Emma", "Oliver", "James", "Amelia", "Noah"]
TEAMS = [
    # (team, languages, skills with base level, expertise text)
    ("logistics", ["en", "zh"], {"logistics": 4, "tracking": 4, "customs": 2},
     "sea and air freight, tracking, delivery delays, lost or damaged parcels, remote-area surcharges"),
    ("customs", ["en", "de"], {"customs": 5, "logistics": 3, "compliance": 3},
     "import duties, EU VAT and IOSS, HS codes, commercial invoices, parcels held at customs"),
    ("payments", ["en", "fr"], {"payments": 4, "refunds": 3, "account": 2},
     "card declines, PayPal, Alipay, bank transfers, deposits, currency and invoices"),
    ("returns", ["en", "es"], {"returns": 4, "refunds": 4, "logistics": 2},
     "return labels, refunds, wrong or missing items, cancellations"),
    ("product-audio", ["en", "zh", "ja"], {"product-audio": 5, "warranty": 3},
     "bluetooth headsets, battery life, pairing problems, firmware, audio quality"),
    ("product-lighting", ["en", "de", "pt"], {"product-lighting": 5, "warranty": 3, "compliance": 2},
     "LED strips, power supplies, dimming, smart plugs and Wi-Fi setup"),
    ("b2b", ["en", "zh", "es"], {"sales": 5, "customs": 3, "payments": 3},
     "wholesale quotes, MOQ, samples, OEM logo printing, incoterms FOB CIF DDP, letters of credit"),
    ("warranty", ["en", "ar", "fr"], {"warranty": 5, "product-audio": 2, "product-lighting": 2},
     "warranty claims, RMA, repairs and replacements for faulty devices"),
]
CHANNELS = ["chat", "email", "whatsapp", "voice"]

agents = []
n = 0
for team, langs, skills, expertise in TEAMS:
    for k in range(8):
        n += 1
        name = f"{FIRST[(n * 7) % len(FIRST)]} {chr(65 + (n % 26))}."
        my_langs = [langs[0]] + [l for l in langs[1:] if rng.random() < 0.7] or langs[:1]
        my_skills = {s: max(1, min(5, lvl + rng.choice([-1, 0, 0, 1]))) for s, lvl in skills.items()}
        if rng.random() < 0.3:
            my_skills["account"] = rng.randint(1, 3)
        capacity = {"chat": rng.choice([2, 3, 4]), "email": rng.choice([4, 6, 8])}
        if rng.random() < 0.5:
            capacity["whatsapp"] = rng.choice([2, 3])
        if rng.random() < 0.3:
            capacity["voice"] = 1
        agents.append({
            "id": f"ag-{team}-{k + 1:02d}",
            "name": name,
            "languages": my_langs,
            "skills": my_skills,
            "expertise": expertise,
            "tiers": ["standard", "vip"] if k < 2 else ["standard"],
            "capacity": capacity,
            "translation": k == 7,
        })

for a in agents:
    print(json.dumps(a, ensure_ascii=False))
