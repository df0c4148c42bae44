import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectLanguage, sameLanguage } from '../../src/synth/language-id.js';

test('detectLanguage tells scripts and major Latin-script languages apart', () => {
  const cases: [string, string][] = [
    ['如何重置我的网上银行密码？', 'zh'],
    ['这个iPhone很好用，电池也耐用。', 'zh'],
    ['パスワードをリセットするにはどうすればいいですか？', 'ja'],
    ['東京の天気は晴れです', 'ja'],
    ['비밀번호를 어떻게 재설정하나요?', 'ko'],
    ['How do I reset the password of my online banking account?', 'en'],
    ['Comment puis-je réinitialiser le mot de passe de mon compte ?', 'fr'],
    ['Wie kann ich das Passwort für mein Konto zurücksetzen und was ist zu tun?', 'de'],
    ['¿Cómo puedo restablecer la contraseña de mi cuenta en el banco?', 'es'],
    ['Как сбросить пароль от интернет-банка?', 'cyrillic'],
    ['كيف يمكنني إعادة تعيين كلمة المرور؟', 'arabic'],
    ['Πώς μπορώ να επαναφέρω τον κωδικό μου;', 'greek'],
    ['12345 !!! 67', 'und'],
    ['', 'und'],
    ['Banking77', 'latin'],
  ];
  for (const [text, lang] of cases) assert.equal(detectLanguage(text), lang, text);
});

test('sameLanguage: exact match, undetermined and unidentified Latin are compatible', () => {
  assert.equal(sameLanguage('zh', 'zh'), true);
  assert.equal(sameLanguage('zh', 'en'), false);
  assert.equal(sameLanguage('en', 'fr'), false);
  assert.equal(sameLanguage('en', 'latin'), true);
  assert.equal(sameLanguage('latin', 'de'), true);
  assert.equal(sameLanguage('und', 'ko'), true);
  assert.equal(sameLanguage('ja', 'zh'), false);
  assert.equal(sameLanguage('cyrillic', 'en'), false);
});
