#version 330 core
// The refocused photo. The texture normally holds 8-bit sRGB (encoded by the
// renderer, so the screen shows exactly render_srgb8's values); with
// u_encode_srgb = 1 it holds linear light and is encoded here (IEC 61966-2-1).
in vec2 v_uv;
out vec4 frag;
uniform sampler2D u_tex;
uniform int u_encode_srgb;

vec3 linear_to_srgb(vec3 v) {
    v = clamp(v, 0.0, 1.0);
    vec3 lo = v * 12.92;
    vec3 hi = 1.055 * pow(v, vec3(1.0 / 2.4)) - 0.055;
    return mix(hi, lo, vec3(lessThanEqual(v, vec3(0.0031308))));
}

void main() {
    vec3 c = texture(u_tex, v_uv).rgb;
    if (u_encode_srgb == 1)
        c = linear_to_srgb(c);
    frag = vec4(c, 1.0);
}
