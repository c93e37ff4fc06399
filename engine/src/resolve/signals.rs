//! What a message says besides its topic: the customer asks for a person, or is
//! upset or in a hurry. Lexicons in the desk's languages, matched on the
//! normalised, lower-cased text (substring match, so CJK needs no word breaks).
//!
//! A lexicon is a blunt instrument; it is used only to hand off sooner and to
//! raise a ticket's priority, never to answer.

use serde::{Deserialize, Serialize};

/// The non-topical signals found in one message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// The customer asked to talk to a person; the matched phrase.
    pub asks_for_human: Option<String>,
    /// 0 calm, 1 upset or urgent, 2 angry and urgent (threats, shouting, several cues).
    pub urgency: u8,
    /// The cues that set `urgency`, for the agent and the logs.
    pub urgency_cues: Vec<String>,
}

/// Phrases asking for a human, in the languages the desk serves.
const ASK_HUMAN: &[&str] = &[
    // en
    "human",
    "real person",
    "a person",
    "live agent",
    "an agent",
    "a agent",
    "real agent",
    "representative",
    "operator",
    "speak to someone",
    "talk to someone",
    "speak with someone",
    "talk with someone",
    "somebody real",
    "customer service agent",
    "your manager",
    "a manager",
    "supervisor",
    "call me back",
    "callback",
    "call-back",
    "not a bot",
    "not a robot",
    "stop the bot",
    "someone from your team",
    "someone on your team",
    "someone from the team",
    "member of your team",
    "member of staff",
    // es
    "persona real",
    "una persona",
    "un humano",
    "humano",
    "hablar con alguien",
    "un agente",
    "agente humano",
    "de carne y hueso",
    "operador",
    "asesor",
    "representante",
    "llámenme",
    "llamenme",
    "alguien del equipo",
    "alguien de su equipo",
    "alguien de vuestro equipo",
    // pt
    "atendente",
    "pessoa real",
    "um humano",
    "de carne e osso",
    "falar com alguém",
    "falar com alguem",
    "gerente",
    "alguém da equipe",
    "alguém da sua equipe",
    // de
    "mensch",
    "echten person",
    "echte person",
    "mitarbeiter",
    "berater",
    "sachbearbeiter",
    "vorgesetzten",
    "rückruf",
    "ruft mich an",
    "rufen sie mich an",
    "jemand aus ihrem team",
    "jemand aus eurem team",
    // fr
    "un humain",
    "une personne",
    "un conseiller",
    "une conseillère",
    "un agent",
    "parler à quelqu",
    "parler a quelqu",
    "rappelez-moi",
    "me rappeler",
    "quelqu'un de votre équipe",
    // it
    "operatore",
    "persona reale",
    "un umano",
    // nl
    "medewerker",
    "echt persoon",
    // zh
    "人工",
    "真人",
    "客服人员",
    "转人工",
    "找经理",
    "主管",
    "打电话给我",
    // ja
    "オペレーター",
    "担当者",
    "人間",
    "有人",
    // ko
    "상담원",
    "사람과",
    // ru
    "оператор",
    "живой человек",
    "живым человеком",
    "с человеком",
    "менеджер",
    "сотрудник",
    // ar
    "موظف",
    "شخص حقيقي",
    "إنسان",
    "انسان",
    "مدير",
    "ممثل خدمة",
    // tr
    "müşteri temsilcisi",
    "temsilci",
    "gerçek bir insan",
    "gerçek kişi",
    "yetkili",
    "operatör",
];

/// Cues of anger, distress or urgency; each found cue adds to the urgency.
const UPSET: &[&str] = &[
    // en
    "scam",
    "fraud",
    "ridiculous",
    "unacceptable",
    "worst",
    "furious",
    "angry",
    "disgusting",
    "lawyer",
    "sue you",
    "chargeback",
    "charge back",
    "report you",
    "never again",
    "third time",
    "second time",
    "sort it out",
    "still waiting",
    "still nothing",
    "urgent",
    "asap",
    "immediately",
    "right now",
    "fed up",
    "terrible",
    "horrible",
    "awful",
    "useless",
    "liar",
    "rip off",
    "ripoff",
    "stolen",
    "wtf",
    "emergency",
    "desperate",
    "nobody answers",
    "no one answers",
    "i demand",
    // es
    "estafa",
    "fraude",
    "inaceptable",
    "vergüenza",
    "abogado",
    "denuncia",
    "urgente",
    "harto",
    "harta",
    "pésimo",
    "pesimo",
    "ladrones",
    "indignante",
    "inmediatamente",
    "ya basta",
    // pt
    "golpe",
    "absurdo",
    "advogado",
    "inaceitável",
    "inaceitavel",
    "péssimo",
    "pessimo",
    "ladrões",
    "procon",
    "imediatamente",
    // de
    "betrug",
    "betrüger",
    "unverschämt",
    "frechheit",
    "anwalt",
    "inakzeptabel",
    "sauer",
    "dringend",
    "katastrophe",
    "skandal",
    "zum dritten mal",
    "verbraucherzentrale",
    // fr
    "arnaque",
    "inadmissible",
    "inacceptable",
    "avocat",
    "scandaleux",
    "honteux",
    "furieux",
    "immédiatement",
    "escroc",
    "plainte",
    // it
    "truffa",
    "vergogna",
    "avvocato",
    "inaccettabile",
    "urgente",
    // zh
    "骗子",
    "诈骗",
    "投诉",
    "太差",
    "垃圾",
    "气死",
    "退钱",
    "律师",
    "紧急",
    "马上",
    "立刻",
    "赶紧",
    "无法接受",
    "欺骗",
    "差评",
    // ja
    "詐欺",
    "ふざけ",
    "最悪",
    "至急",
    "弁護士",
    "怒",
    "すぐに",
    "いい加減",
    // ko
    "사기",
    "최악",
    "변호사",
    "긴급",
    // ru
    "мошенн",
    "обман",
    "ужас",
    "безобраз",
    "юрист",
    "адвокат",
    "срочно",
    "немедленно",
    "развод",
    // ar
    "احتيال",
    "نصب",
    "غير مقبول",
    "محامي",
    "عاجل",
    "فورا",
    "فوراً",
    "سيء جدا",
    "حرامي",
    // tr
    "dolandırıcı",
    "rezalet",
    "kabul edilemez",
    "avukat",
    "acil",
    "hemen",
    "şikayet",
];

/// Share of upper-case letters (with at least this many letters) that counts as shouting.
const SHOUT_MIN_LETTERS: usize = 10;
const SHOUT_SHARE: f32 = 0.7;

/// Reads the non-topical signals of a normalised message.
pub fn read(text: &str) -> Signals {
    let lower = text.to_lowercase();
    let asks_for_human = ASK_HUMAN
        .iter()
        .find(|p| contains_phrase(&lower, p))
        .map(|p| p.to_string());
    let mut cues: Vec<String> = UPSET
        .iter()
        .filter(|p| contains_phrase(&lower, p))
        .map(|p| p.to_string())
        .collect();
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    if letters.len() >= SHOUT_MIN_LETTERS && upper as f32 >= SHOUT_SHARE * letters.len() as f32 {
        cues.push("shouting (capitals)".into());
    }
    if text.contains("!!") || text.contains("！！") || text.contains("?!") {
        cues.push("repeated exclamation".into());
    }
    let urgency = match cues.len() {
        0 => 0,
        1 => 1,
        _ => 2,
    };
    Signals {
        asks_for_human,
        urgency,
        urgency_cues: cues,
    }
}

/// Substring match; for phrases of Latin/Cyrillic letters, on word boundaries at the phrase's start.
fn contains_phrase(haystack: &str, phrase: &str) -> bool {
    let spaced = phrase
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii() || is_cyrillic(c));
    if !spaced {
        return haystack.contains(phrase);
    }
    haystack.match_indices(phrase).any(|(i, _)| {
        haystack[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

fn is_cyrillic(c: char) -> bool {
    ('\u{0400}'..='\u{04FF}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_for_a_person_in_several_languages() {
        for t in [
            "I want to talk to a human",
            "can I speak to someone please",
            "quiero hablar con una persona",
            "Ich möchte mit einem Mitarbeiter sprechen",
            "je veux parler à quelqu'un",
            "转人工",
            "オペレーターと話したい",
            "соедините с оператором",
            "أريد التحدث مع موظف",
            "müşteri temsilcisi ile görüşmek istiyorum",
            "could someone from your team look at our VAT setup?",
            "¿me puede ayudar alguien del equipo?",
            "tem alguém de carne e osso aí?",
        ] {
            assert!(read(t).asks_for_human.is_some(), "{t}");
        }
    }

    #[test]
    fn ordinary_questions_carry_no_signal() {
        for t in [
            "How long does shipping take to Germany?",
            "¿Aceptan PayPal?",
            "Wie lange dauert der Versand?",
            "我的包裹在哪里",
            "Do customs agents open parcels?",
        ] {
            let s = read(t);
            assert_eq!((s.asks_for_human.clone(), s.urgency), (None, 0), "{t}: {s:?}");
        }
    }

    #[test]
    fn anger_and_urgency_raise_the_level() {
        assert_eq!(read("where is my parcel, this is urgent").urgency, 1);
        assert_eq!(read("THIS IS A SCAM, I WANT MY MONEY BACK NOW").urgency, 2);
        assert_eq!(read("骗子！马上退钱").urgency, 2);
        assert_eq!(read("Das ist Betrug, ich schalte meinen Anwalt ein").urgency, 2);
        assert_eq!(read("second time this happens, sort it out today").urgency, 2);
    }
}
