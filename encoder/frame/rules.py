"""The same-frame check's thresholds (Rules), and the reasons a pair is a match rather than a duplicate (WHY)."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Rules:
    max_aspect_change: float = 0.08  # |log(aspect a / aspect b)|: a trim of up to 7.7 % off one side; a band added
    #   to a side changes it as much, and the frame tests below tell the two apart
    max_trim: float = 0.10  # one picture may be the other with this much cut off its sides
    max_stretch: float = 0.04  # ... and the part kept have the other's aspect ratio within this (stretch())
    search_above: float = 1.0  # pictures that differ more than this as they are: no trim is searched for (coins
    #   in rows, cut by 7 %, differ by 0.8 as they are: a row moves onto the next)
    max_residual: float = 0.10  # aligned, same brightness: RMS difference at 16x16 per unit of contrast
    max_local: float = 28.0  # ... and no 16x16 cell off by more than this (0..255): overlays, patches
    gain: tuple[float, float] = (0.75, 1.33)  # contrast changed by at most this factor (a faded filter: 0.6)
    colour: tuple[float, float] = (0.35, 1.0)  # colourfulness (mean |chroma|, 0..255), the contrast gain
    #   applied, differs by at most this share of the larger plus this much: tints, sepia, strong saturation;
    #   under 1 it is compression noise (heavy JPEG of a nearly gray picture changes it several times over)
    chroma_gain: float = 1.2  # aligned, one picture's colours through the pair's tone curve (compare.py
    #   _curve_gains) and the other's, their chroma regressed on each other either way, have a gain within this
    #   factor of 1: a saturation edit scales the chroma alone (0.8 or 1.25 fails, 1.15 not), grayscale removes
    #   it, a hue edit turns it (past 33 degrees); noise from compression does not correlate
    faint_chroma: float = 0.5  # ... unless both pictures' chroma is this faint (rms, levels of 255, of the
    #   softened 32-px grids), neither is gray (rms under a tenth of a level) and the two are not the same
    #   pattern (hue_correlation): a nearly gray photo's colour is JPEG's noise there, which resizing and
    #   re-encoding rescale at random (a third-size q60 copy); a gray copy of such a picture, or one
    #   desaturated (the same pattern), still fails
    max_hue_turn: float = 20.0  # ... and, where the two chromas are the same pattern turned, one is turned from
    #   the other round the gray axis by at most this (degrees): a hue edit of 30 degrees turns it 28 to 30
    #   even in a nearly gray picture, which the gains above let pass
    hue_correlation: float = 0.97  # the same pattern turned: the chromas' correlation (_turned) reaches this (hue
    #   edits 0.99 or more). JPEG at q10 to q20 quantises a faint colour's two chroma channels apart, which
    #   turns it by up to 40 degrees but leaves them less alike (0.95 the most where it turned more than 10)
    max_cast: float = 7.0  # the gray of the pictures moved by at most this (compare.cast(), levels; for
    #   pictures of 64 px or more): of the 38 green tints of 15 levels the gains above pass on photos of dev/,
    #   extra/ and train/, it finds 21; benign copies of those photos move it by 6.1 at most (one JPEG at
    #   q10: 7.8)
    max_vignette: float = 0.07  # the log of the two pictures' brightness ratio, tones matched, differs between
    #   their corners and their centre (compare.vignetting()) by at most this: bench/edits.py's light vignette
    #   (corners 20 % darker) passes 0.10 and 0.26 of the time on photos of extra/ and dev/ (0.25 and 0.37
    #   without it), the benign copies of those photos as before
    min_sharpness: float = 0.7  # the softer keeps at least this share of the sharper one's fine detail (two
    #   sides below the one compared)
    max_blur: float = 1.7  # ... and is blurred by at most this (Gaussian sigma, in its own pixels): slight
    #   blurs, sharpening and resampling stay under it, a blur that shows at the picture's size does not
    max_grain: float = 2.0  # the noisier picture's noise floor (signature.noise_floor()) at most this many times the
    #   other's (compare.grain(), at 256 px or the largest side both have) ...
    min_grain: float = 3.0  # ... where it is this many units (white noise's sigma) above it or more (a grainy photo
    #   whose grain JPEG at q10 or WebP took away: 2.6 to 2.9 less grainy at 256 px) ...
    grain_scale: float = 1.2  # ... and this many times its floor at half the side or more (white noise halves, a
    #   picture's own texture does not) ...
    clean_scale: float = 1.2  # ... beside a floor at most this many times its own at half the side: a clean picture,
    #   not a grainy one smoothed (a slight blur or a resampling filter leaves some grain). Over 375 photos of
    #   dev/, extra/, train/ and the samples: noise of sigma 20 (JPEG q75) fails it 0.53 of the time, sigma 12
    #   0.33, grain of sigma 3, JPEG q10 to q35, WebP q50 and q80, gamma, brightness, halving, PNG-8 and
    #   sharpening never, a blur of 1.2 px once
    max_peaks: float = 0.06  # the two pictures' tone peaks (tone_peaks()) differ by at most this: most posterised
    #   copies differ by more, palette (PNG-8, GIF) and q10 copies seldom (bench/edits.py's rows)
    max_turned_detail: float = 0.25  # ... and, untrimmed, the detail's direction there (_detail's two log
    #   ratios) moved by at most this: a blur along one direction (sigma s, in pixels at that side) moves it by
    #   about 0.4 s^2, and lowers the amount of detail, averaged over all directions, about half as much as a
    #   blur all round. Benign copies: 0.14 the most over 2,700 pairs of five benchmark draws
    blur_seen: float = 0.86  # no blur is estimated from a finest detail kept above this share (its noise,
    #   times the picture's size over the measuring side, would exceed max_blur in large photos)
    max_profile_error: float = 0.2  # a trim whose best window leaves more than this share of either axis's mean
    #   profile unexplained is not compared further: trims judged duplicates leave 0.1 at most on five draws
    refine_below: float = 0.2  # a trim search's fit this close is refined and compared again
    settled: float = 0.03  # pictures that pass as they are this close are not refined (a turn of 3 degrees
    #   leaves more, even in a dark picture: 0.047 the least on the benchmark's draws)
    max_turn: float = 0.05  # the aligning affine's off-diagonal share: turned by 3 degrees or more, or mirrored
    max_rotation: float = 0.026  # ... and its turn alone, a shear aside (sin 1.5 degrees): benign pairs refine to
    #   0.018 at most over the 711 of five benchmark draws refined, a 2-degree turn to 0.036 or more
    slight_turn: float = 0.008  # a pair that passes every other test and whose 64-px refinement turns it by this
    #   much is refined again at 128 px, where it passes if it turns by at most `max_fine_rotation` (tan 0.75
    #   degrees): a turn of 1 degree with its corners left black measures 0.017 or more at either side, benign
    #   copies 0.0093 at most at 128 px (bench/edits.py's kinds, 160 photos of dev/ and extra/)
    max_fine_rotation: float = 0.013
    plain: float = 4.0  # a band cut off is plain if it varies by at most this (0..255, standard deviation) ...
    unlike: float = 16.0  # ... and the bands a border if their levels are this far from the picture's edges
    bar_plain: float = 0.5  # one band on one side: a bar if this share of it is within `plain` of one level
    bar_same: float = 0.2  # ... and at most this share of the positions along it like the picture's edge
    caption_ink: float = 0.1  # ... or, like it, marks (a caption) at this share of the positions along it or
    #   more, where the picture's edge next to them is plain ...
    caption_run: int = 5  # ... this many of them in a row (of 64: a word; stars cut off a night sky are dots)
    frame_spread: float = 0.2  # a margin whose lines vary along them by more than this (standard deviation per
    #   unit of contrast) is picture or a blurred fill, not a plain band ...
    min_frame_detail: float = 0.15  # ... and a blurred fill if it has under this share of the picture's edge's
    #   fine detail: trims of five benchmark draws keep 0.23 or more, 4 % blurred fills 0.03 to 0.5
    frame_plain: float = 0.05  # a margin's rim lines varying along them by under this (per unit of contrast) ...
    edge_varies: float = 0.1  # ... where the picture's own edge lines vary by more than this ...
    frame_sides: int = 3  # ... on this many sides or more: a plain frame (plain_frame())
    edge_faint: float = 0.03  # ... or, where they vary by more than this, the margin's lines by under
    frame_flatter: float = 0.25  # ... this share of theirs (a black frame round a star field)
    min_surround_detail: float = 0.7  # ... or, a margin all round, under this share over its varying sides together:
    #   trims of five benchmark draws with a margin all round keep 0.75 or more, 4 % fills of 60 photos 0.19-0.63
    fill_spread: float = 0.02  # ... or, a margin all round that varies along its lines by more than this (a plain
    #   one, a studio's white cut round an object, is bordered()'s to judge; a blurred fill varies 0.02-0.15) ...
    fill_edge_detail: float = 0.01  # ... next to the picture's edge lines with this much fine detail, under
    #   min_frame_detail of it on every side (the edge lines of a smooth picture have next to none)
    max_overlay: float = 6.0  # gray at 64 px, chroma at 32, aligned and tone-matched: no cell (1/16 of each
    #   side) off by more than 4x the median difference plus this (0..255): text, logos, stickers
    max_fine_residual: float = 0.2  # ... and the gray pictures' RMS difference per unit of contrast at most this
    max_finer_overlay: float = 7.0  # ... and at 128 px (finer_overlay()), for pictures that large: bench/edits.py's
    #   benign kinds pass 0.92-1.00 of the time on photos of extra/, its marks (watermarks, handles, date stamps)
    #   0.05-0.28; against 8, the benchmark draws' benign copies pass as before and a few more text overlays and
    #   marks are matches (bench/frame_rules.py, docs/verification.md)
    max_finest_overlay: float = 8.0  # ... and at 256 px (finest_overlay()), for pictures of 448 px or more: on photos of
    #   extra/ and dev/ the marks pass 0.00-0.23 of the time against 0.00-0.35 without it, median filters 0.27-0.45
    #   against 0.30-0.50; the benign kinds as before, but for a dithered palette (a photo in 100 of dev/), whose
    #   dither stands out of 4-px cells (docs/verification.md)
    finest_tones: float = 3.0  # ... asked only of pairs whose tones differ by at most this on average
    #   (levels, 0..255: compare.py _tone_shift) ...
    finest_after: float = 2.5  # ... and where a cell stands out by at least this at 128 px (finer_overlay()): the
    #   marks the 256-px test finds on photos of extra/ all stand out by 3.1 or more there
    max_chroma_mark: float = 5.5  # ... and no cell of 1/32 of each side in either chroma channel at 64 px standing
    #   out of the rest by more than this factor (compare.py chroma_mark()): orange date stamps that pass the
    #   other tests reach 0.9-8.2 on photos of dev/, extra/ and train/ (31 of 56 past 5.5), the benign kinds 5.5
    #   at most where asked, but for two palettes (PNG-8) that changed a small patch's colour (bench/edits.py,
    #   docs/verification.md) ...
    chroma_mark_after: float = 2.5  # ... asked only where a chroma cell stands out by at least this at 32 px
    #   (overlay()'s measure): every date stamp it finds on photos of dev/, extra/ and train/ does, by 3.2 or more
    plain_colour: float = 6.0  # two solid colours (Frame.plain) are one if no channel's mean differs by more than
    #   this (0..255): JPEG moves a solid colour by a few levels (test_frame: a white at q30, a red at q85)


RULES = Rules()

WHY = {  # why a pair is a match rather than a duplicate (difference()), as the report says it to the person who looks
    "unchecked": "not compared (a file could not be read again)",
    "shape": "another shape: cropped, bordered, padded, stretched or turned",
    "colour": "other colours: recoloured (grayscale, saturation, a tint, a filter), or a coloured border or patch",
    "content": "the picture differs: drawn over (text, a logo, a patch), turned, cropped or recoloured",
    "overlay": "something over part of it: text, a logo, a sticker, a patch",
    "contrast": "contrast changed more than a light adjustment does (faded)",
    "sharpness": "blurred or smeared",
    "noise": "one is grainier: noise or film grain added, or a filter took the picture's own grain away",
    "tones": "fewer tones: posterised",
    "vignette": "darker or lighter towards its corners: a vignette",
    "turned": "turned or mirrored",
    "mirrored": "mirrored",
    "cropped": "cropped: one shows part of the other (or the other sets it in a larger picture)",
    "frame": "a border, a bar or a fill round it",
    "siblings": "edited, as other copies of the picture show: blurred or framed against larger copies, or unlike "
                "most of the other's duplicates (one of the two is too small to show it)",
}
WHOLE_PICTURE = ("colour", "contrast", "sharpness", "noise", "tones")  # reasons a crop, a border or a turn also gives
LENIENT = tuple(replace(RULES, max_aspect_change=float("inf"), colour=(1.0, float("inf")), gain=(0.0, float("inf")),
                        max_blur=float("inf"), min_sharpness=0.0, max_grain=float("inf"), max_peaks=float("inf"),
                        max_profile_error=float("inf"), max_trim=trim)
                for trim in (RULES.max_trim, 0.25))  # the check without them, every trim tried, then wider ones too
