// A small teacher file in our JSON Lines format, written by the tests: ten
// arithmetic questions with three different rationales each, one broken line
// (line 4) and one rationale that reaches a wrong answer, so the report has
// an error with a line number and a dropped rationale to show. One question
// carries markup, which the page must show as text.

const NAMES = ['Tom', 'Ana', 'Raj', 'Mei', 'Olu', 'Sam', 'Ivy', 'Leo', 'Zoe', 'Kai'];

export interface Fixture {
  text: string;
  questions: number;
  brokenLine: number;
  markupQuestionId: string;
}

export function teacherFile(): Fixture {
  const lines: string[] = [];
  NAMES.forEach((name, i) => {
    const a = i + 2;
    const b = (i % 3) + 3;
    const sum = a + b;
    const question =
      i === 0
        ? `${name} has ${a} <b>apples</b> and buys ${b} more. How many apples now?`
        : `${name} has ${a} apples and buys ${b} more. How many apples now?`;
    const rationales = [
      `${name} starts with ${a} apples. Buying ${b} more gives ${a} + ${b} = ${sum}. So the answer is ${sum}.`,
      `Add the new apples to the old ones: ${b} + ${a} = ${sum}. The answer is ${sum}.`,
      `First there are ${a}. After the purchase there are ${b} extra, which makes ${sum} in total. So the answer is ${sum}.`,
    ];
    // A teacher mistake: curation must drop it (wrong answer), keep the rest.
    if (i === 5) rationales.push(`${name} has ${a} and ${b}, so ${a} * ${b} = ${a * b}. So the answer is ${a * b}.`);
    lines.push(JSON.stringify({ id: `q${i}`, question, rationales, answer: String(sum) }));
  });
  const brokenLine = 4;
  lines.splice(brokenLine - 1, 0, '{"id": "broken", "question": "this line is cut off');
  return { text: `${lines.join('\n')}\n`, questions: NAMES.length, brokenLine, markupQuestionId: 'q0' };
}

/** Evaluation file: questions and answers only. */
export function evalFile(): string {
  return [
    { id: 'e1', question: 'Nia has 4 apples and buys 3 more. How many apples now?', answer: '7' },
    { id: 'e2', question: 'Bo has 6 apples and buys 5 more. How many apples now?', answer: '11' },
    { id: 'e3', question: 'Jo has 2 apples and buys 4 more. How many apples now?', answer: '6' },
  ]
    .map((r) => JSON.stringify(r))
    .join('\n')
    .concat('\n');
}
