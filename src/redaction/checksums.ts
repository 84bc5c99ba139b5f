/** Check digits used to confirm structured identifiers. */

/** Luhn (mod 10) check over the digits of `s` (other characters ignored). ISO/IEC 7812-1. */
export function luhnValid(s: string): boolean {
  let sum = 0;
  let n = 0;
  for (let i = s.length - 1; i >= 0; i--) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) continue;
    let d = c - 48;
    if (n % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    n++;
  }
  return n > 0 && sum % 10 === 0;
}

/**
 * IBAN check (ISO 13616 / ISO 7064 mod 97-10): move the first four characters to the end, map
 * letters to 10..35, the number mod 97 must be 1. Spaces ignored, letters in either case.
 */
export function ibanValid(s: string): boolean {
  const t = s.replace(/ /g, '').toUpperCase();
  if (t.length < 15 || t.length > 34) return false;
  const r = t.slice(4) + t.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < r.length; i++) {
    const c = r.charCodeAt(i);
    if (c >= 48 && c <= 57) rem = (rem * 10 + (c - 48)) % 97;
    else if (c >= 65 && c <= 90) rem = (rem * 100 + (c - 55)) % 97;
    else return false;
  }
  return rem === 1;
}
