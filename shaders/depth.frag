#version 330 core
// Depth view: normalised disparity (1 = nearest) through the Turbo colour map
// (polynomial fit by A. Mikhailov, Google, Apache-2.0), with the pixels at the
// focus disparity (+- u_band) tinted white so the focus plane is visible.
in vec2 v_uv;
out vec4 frag;
uniform sampler2D u_tex;
uniform float u_focus;
uniform float u_band;

vec3 turbo(float x) {
    const vec4 kr4 = vec4(0.13572138, 4.61539260, -42.66032258, 132.13108234);
    const vec4 kg4 = vec4(0.09140261, 2.19418839, 4.84296658, -14.18503333);
    const vec4 kb4 = vec4(0.10667330, 12.64194608, -60.58204836, 110.36276771);
    const vec2 kr2 = vec2(-152.94239396, 59.28637943);
    const vec2 kg2 = vec2(4.27729857, 2.82956604);
    const vec2 kb2 = vec2(-89.90310912, 27.34824973);
    x = clamp(x, 0.0, 1.0);
    vec4 v4 = vec4(1.0, x, x * x, x * x * x);
    vec2 v2 = v4.zw * v4.z;
    return vec3(dot(v4, kr4) + dot(v2, kr2), dot(v4, kg4) + dot(v2, kg2), dot(v4, kb4) + dot(v2, kb2));
}

void main() {
    float d = texture(u_tex, v_uv).r;
    vec3 c = turbo(d);
    if (u_focus >= 0.0 && abs(d - u_focus) <= u_band)
        c = mix(c, vec3(1.0), 0.6);
    frag = vec4(c, 1.0);
}
