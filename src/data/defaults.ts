// Curation defaults: the one record that the data pipeline, the training
// config (core/config's DEFAULT_TRAIN takes K and the seed from here) and the
// CLI's report read. No imports, so every layer may use it.

export const CURATION_DEFAULTS = {
  /** Max rationales kept per question (the reference implementation's K). */
  k: 3,
  /** Seed of the dev split and of which K rationales are kept. */
  seed: 1337,
  /** Word n-gram size of the diversity filter; with the threshold below,
   * chosen from the measurements in docs/data.md: word trigrams, and a
   * threshold that removes only the near-duplicate tail (the top 1-4% of
   * same-question pairs), not rationales that merely share a template. */
  ngram: 3,
  /** Jaccard similarity at which a rationale counts as a near-duplicate. */
  similarityThreshold: 0.7,
  /** Share of questions held out as dev (at least 1 question when there are
   * 10 or more; 0 = no dev split). */
  devFraction: 0.1,
  /** A rationale whose answer cannot be read is kept when the record says
   * the teacher got it right: yes/no teachers mostly state a fact instead of
   * an answer ("1 is less than 5."), and the label is the teacher's own
   * check against the gold (on Mentor-KD's StrategyQA file it matches the
   * teacher's recorded answer on all 4,809 records). Labels can be wrong
   * (Mentor-KD's SVAMP file marks all 1,953 records correct, 457 state
   * another number), so one is trusted only where the text states nothing,
   * never over an answer read from it. Files without labels are unaffected.
   * See UnreadablePolicy in types.ts. */
  unreadable: 'keep-labelled',
} as const;
