// Row rearrangements the families' GGUF tensors need (pure, on the host).

/** [rows, cols] row-major -> [cols, rows]. */
export function transposeRows(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/** convert_hf_to_gguf.py's LlamaModel.permute for Q and K rows: within each
 * head, Hugging Face's rotate_half pairs row i with row i + headDim/2; ggml's
 * (non-NeoX) rope pairs rows 2i and 2i+1. Rows [heads, 2, headDim/2] become
 * [heads, headDim/2, 2]: out row h*hd + 2i + j = in row h*hd + j*hd/2 + i.
 * `w` is [heads * headDim, cols] row-major (cols = 1 for a bias). */
export function permuteRope(w: Float32Array, heads: number, cols: number): Float32Array {
  const rows = w.length / cols;
  if (!Number.isInteger(rows) || rows % heads !== 0 || (rows / heads) % 2 !== 0)
    throw new Error(`RoPE permutation: ${rows} rows do not split into ${heads} heads of an even size`);
  const hd = rows / heads;
  const half = hd / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const src = (h * hd + j * half + i) * cols;
        out.set(w.subarray(src, src + cols), (h * hd + 2 * i + j) * cols);
      }
    }
  }
  return out;
}
