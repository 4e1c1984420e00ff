//! Greetings, introductions and closing lines of the languages around
//! English (German, French, Spanish, Italian, Dutch, Polish, Portuguese,
//! Scandinavian) cue a name as the English ones do; weak introductions
//! (`ich bin`, `sono`, `jestem`) only with a known given name, from the
//! frequent-name lists of those countries.

mod support;

use observatory_redact::Content;
use support::{found, pairs};

#[test]
fn greetings_and_closings() {
    for (mail, first, last) in [
        ("Olá Ana Souza,\n\nSegue o pedido.\n\nAtenciosamente,\nJoão Pereira\n", "Ana Souza", "João Pereira"),
        ("Dzień dobry Anna Nowak,\n\nW załączeniu faktura.\n\nZ poważaniem,\nPiotr Wiśniewski\n", "Anna Nowak", "Piotr Wiśniewski"),
        ("Geachte Daan de Jong,\n\nBijgaand de factuur.\n\nMet vriendelijke groeten,\nSanne Bakker\n", "Daan de Jong", "Sanne Bakker"),
        ("Prezada Maria Silva,\n\nObrigado.\n\nAbraços,\nPedro Costa\n", "Maria Silva", "Pedro Costa"),
        ("Hej Astrid Lindqvist,\n\nTack.\n\nMed vänliga hälsningar,\nLars Berg\n", "Astrid Lindqvist", "Lars Berg"),
    ] {
        assert_eq!(
            found(mail, Content::Text),
            pairs(&[(first, "PERSON"), (last, "PERSON")]),
            "{mail:?}"
        );
    }
}

#[test]
fn introductions() {
    for (text, name) in [
        ("Bom dia, meu nome é Heloísa Ramos.", "Heloísa Ramos"),
        ("Buongiorno, sono Giacomo.", "Giacomo"),
        ("Cześć, jestem Łukasz.", "Łukasz"),
        ("Hallo, ich bin Jürgen.", "Jürgen"),
        ("mein Name ist Frieda Lange", "Frieda Lange"),
    ] {
        assert_eq!(
            found(text, Content::Text),
            pairs(&[(name, "PERSON")]),
            "{text}"
        );
    }
    // A weak cue before a word that is no given name.
    for text in ["Ich bin Lehrer.", "Sono Felice di aiutare", "Jestem Gotowy"] {
        assert_eq!(found(text, Content::Text), [], "{text}");
    }
}
