import { mount } from '@vue/test-utils'
import { describe, expect, it } from 'vitest'
import { defineComponent, h, ref } from 'vue'
import { defaultThreshold } from '../format'
import ThresholdSlider from './ThresholdSlider.vue'

/** Mounts the slider with v-model wired to a ref, as the Protect panel does. */
function mountSlider(min: number, max: number, start: number | null = null) {
  const k = ref<number | null>(start)
  const wrapper = mount(
    defineComponent({
      setup: () => () =>
        h(ThresholdSlider, { min, max, modelValue: k.value, 'onUpdate:modelValue': (v: number) => (k.value = v) }),
    }),
  )
  return { wrapper, k }
}

describe('defaultThreshold', () => {
  it('is a majority of the servers, within [min, n]', () => {
    expect(defaultThreshold(2, 2)).toBe(2)
    expect(defaultThreshold(2, 3)).toBe(2)
    expect(defaultThreshold(2, 4)).toBe(3)
    expect(defaultThreshold(2, 5)).toBe(3)
    expect(defaultThreshold(2, 10)).toBe(6)
    expect(defaultThreshold(4, 5)).toBe(4)
    expect(defaultThreshold(1, 1)).toBe(1)
  })
})

describe('ThresholdSlider', () => {
  it('spans minThreshold to the connected servers and starts at the default', async () => {
    const { wrapper, k } = mountSlider(2, 5)
    await wrapper.vm.$nextTick()
    const input = wrapper.get('input[type=range]')
    expect(input.attributes('min')).toBe('2')
    expect(input.attributes('max')).toBe('5')
    expect(k.value).toBe(3)
    expect((input.element as HTMLInputElement).value).toBe('3')
    expect(wrapper.get('[data-testid=threshold-sentence]').text()).toBe('Any 3 of 5 servers rebuild it; any 2 together learn nothing.')
  })

  it('follows the user and says what k means', async () => {
    const { wrapper, k } = mountSlider(2, 5)
    await wrapper.get('input[type=range]').setValue('2')
    expect(k.value).toBe(2)
    expect(wrapper.get('[data-testid=threshold-value]').text()).toBe('2 of 5')
    expect(wrapper.get('[data-testid=threshold-sentence]').text()).toBe('Any 2 of 5 servers rebuild it; 1 server alone learns nothing.')
  })

  it('pulls a chosen k back inside the bounds when servers go away', async () => {
    const { wrapper, k } = mountSlider(2, 3, 5)
    await wrapper.vm.$nextTick()
    expect(k.value).toBe(3)
    const low = mountSlider(3, 6, 1)
    await low.wrapper.vm.$nextTick()
    expect(low.k.value).toBe(3)
  })

  it('explains instead of offering a slider when too few servers are connected', () => {
    const { wrapper, k } = mountSlider(2, 1)
    expect(wrapper.find('input[type=range]').exists()).toBe(false)
    expect(k.value).toBeNull()
    expect(wrapper.get('[data-testid=threshold-sentence]').text()).toBe(
      'Protecting needs at least 2 connected storage servers; 1 is connected.',
    )
  })
})
