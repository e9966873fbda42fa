// The choice of Vulkan for a Dawn process (src/cli/node-gpu.ts; the bench's
// WebGPU rows in Node use it):
// the system's driver first, Chromium's SwiftShader when that gives no
// adapter (Mesa's Vulkan drivers on a machine without a GPU), and a note in
// the report whenever a row did not run on the system's own driver.
import { describe, expect, it } from 'vitest';
import { SWIFTSHADER_ICD, vulkanNote, vulkanTries } from '../../src/cli/node-gpu';

describe('bench WebGPU: which Vulkan each try uses', () => {
  it('a system Vulkan loader: the system first, then SwiftShader', () => {
    expect(vulkanTries({}, { systemVulkan: true, swiftShader: true })).toEqual(['system', 'swiftshader']);
  });

  it('no system Vulkan: straight to SwiftShader', () => {
    expect(vulkanTries({}, { systemVulkan: false, swiftShader: true })).toEqual(['swiftshader']);
  });

  it('without Chromium there is nothing to retry on', () => {
    expect(vulkanTries({}, { systemVulkan: true, swiftShader: false })).toEqual(['system']);
    expect(vulkanTries({}, { systemVulkan: false, swiftShader: false })).toEqual(['system']);
  });

  it('a driver set in the environment is tried first; SwiftShader set there is SwiftShader', () => {
    expect(vulkanTries({ VK_ICD_FILENAMES: '/x/icd.json' }, { systemVulkan: true, swiftShader: true })).toEqual(['as-set', 'swiftshader']);
    expect(vulkanTries({ VK_DRIVER_FILES: '/x/icd.json' }, { systemVulkan: false, swiftShader: true })).toEqual(['as-set', 'swiftshader']);
    expect(vulkanTries({ VK_ICD_FILENAMES: SWIFTSHADER_ICD }, { systemVulkan: true, swiftShader: true })).toEqual(['swiftshader']);
  });

  it('the note says why a row ran on SwiftShader', () => {
    expect(vulkanNote('system')).toBeUndefined();
    expect(vulkanNote('swiftshader')).toMatch(/no system Vulkan.*SwiftShader/);
    const retried = vulkanNote('swiftshader', { vulkan: 'system', error: 'webgpu: navigator.gpu.requestAdapter() returned no adapter' });
    expect(retried).toMatch(
      /^no WebGPU adapter from the system Vulkan \(webgpu: navigator\.gpu\.requestAdapter\(\) returned no adapter\); retried in a second process on Chromium's SwiftShader$/,
    );
  });
});
