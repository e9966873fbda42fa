// `?backend=NAME` in the page's URL picks the backend the worker starts on.
import { describe, expect, it } from 'vitest';
import { backendFromLink } from '../../src/ui/settings';

describe('the backend a link asks for', () => {
  it('is read from ?backend=, absent without it, and a wrong name lists the right ones', () => {
    expect(backendFromLink('')).toBeUndefined();
    expect(backendFromLink('?diagnostics')).toBeUndefined();
    expect(backendFromLink('?backend=wasm')).toBe('wasm');
    expect(backendFromLink('?diagnostics&backend=cpu')).toBe('cpu');
    expect(() => backendFromLink('?backend=cuda')).toThrow('?backend=cuda is not one of webgpu, webgl, wasm, cpu');
    expect(() => backendFromLink('?backend=<b>x</b>')).toThrow(/^\?backend=<b>x<\/b> is not one of/);
  });
});
