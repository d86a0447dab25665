"""The English word lists prop finding uses: non-props, stop words, generic adjectives, people."""

from __future__ import annotations

from stages.screenplay.words import word_set

#: Head nouns that are not props: body parts, set pieces, people, abstractions ("takes a breath").
#: Nouns ending like a participle that are things (a ring, a bed, a painting).
EN_KEEP_PARTICIPLES = word_set(
    """ring string bed sled shed painting drawing building wedding pudding stocking clothing bedding
    ceiling railing awning filling frosting icing stuffing wing sling sword-belt"""
)
EN_NOT_PROPS = word_set(
    """jab hook punch uppercut series mark breath step steps seat look glance sip moment beat pause deep long turn chance hand hands arm
    arms eye eyes mouth head face door doors window windows gaze hold note notice place time lead bow
    stand position ground floor one it lot bit second minute break shower walk drag bite swig gulp
    shot shots aim cover call way stage room deal offer job risk care picture lips lip fist fists finger
    fingers palm palms shoulder shoulders knee knees leg legs foot feet heart mind voice hair other
    another last first next same few whole rest side sides fire wall walls attention advantage neck wrist
    wrists chin cheek cheeks forehead nose ear ears back chest stomach belly throat jaw teeth tongue
    brow brows eyebrow eyebrows hip hips waist elbow thumb thumbs toe toes skin tear tears ankle lap
    body bodies man men woman women guy boy girl kid kids child children baby guard guards officer
    cop cops nurse doctor driver stranger people person crowd decision idea opportunity truth courage
    action interest responsibility advice control charge offense stairs street corner ceiling hallway
    corridor office house building drawer drawers cabinet closet fridge refrigerator curtain curtains
    blinds gate hatch lid everything something anything nothing all each everyone someone anyone
    nobody somebody speed distance hint clue message word words name names number answer question
    call calls silence tone mood line lines scene shape form space air light lights room rooms car
    cars vehicle truck van engine wheel dance nap seat spot pulse temperature smile grin frown look
    nod sigh shrug flick start jolt laugh thud bang crash wave sense mix hint touch kiss hug scream yell
    shout groan grunt snort wink thump click snap clatter gesture flourish sweep twist jerk lurch roar
    whimper cough limp swagger mouthful beard mustache moustache scar scars tattoo accent grip view plan
    purpose passion vengeance vigor sob gasp cry whisper growl hiss thunk squeal screech pop grunt glow
    tremor shiver shudder shake trembling sharp loud soft quiet sudden slight faint hiss bit
    handle handles knob doorknob railing rail rails banister sleeve sleeves lapel lapels cuff hem
    pocket pockets horizon coat jacket shirt dress sweater hat cap shoe shoes boot boots uniform
    sound noise chair chairs table tables desk counter bed couch sofa bench stool steering trigger"""
)
#: Words that end a noun phrase instead of belonging to it.
EN_STOP_WORDS = word_set(
    """and or but to from off out of in on at with into onto for as then back away up down over that
    which while before after it is are was toward towards across through under behind beside around
    against by again too close tight aside high open shut he she they we i you his her its their him
    them there here when where so just still only very now like than not no gently slowly carefully
    quickly firmly tightly hard fast"""
)
EN_ARTICLES = word_set("a an the his her their its my your our some this that these those")
#: Generic adjectives dropped from a prop's name (``a battered suitcase`` → ``suitcase``).
EN_GENERIC = word_set(
    """old small big large little tiny huge heavy battered worn dusty rusty shiny new empty full
    crumpled folded broken cracked dirty clean wet dry cold hot warm single fresh plain simple cheap
    expensive beautiful ugly strange familiar mysterious thick thin long short tall bloody tattered
    faded yellowed ornate antique vintage ancient enormous massive bulky sleek polished unopened torn
    crisp fat slim fancy nice same other half-empty blood-stained brand-new well-worn dog-eared
    loaded sealed open closed ragged tired lone final spare extra trusty beloved precious"""
)
#: Capitalised nouns that name people (``the GUARD``, ``A WOMAN``): extras, not props.
EN_PEOPLE = word_set(
    """MAN MEN WOMAN WOMEN GUY GUARD GUARDS BOY BOYS GIRL GIRLS KID KIDS CHILD CHILDREN OFFICER OFFICERS
    COP COPS NURSE DOCTOR DRIVER WAITER WAITRESS BARTENDER CLERK STRANGER SOLDIER SOLDIERS AGENT AGENTS
    DETECTIVE TEEN TEENAGER CROWD PATIENT CUSTOMER MOTHER FATHER BABY TEACHER STUDENT STUDENTS PRIEST
    THUG THUGS BOSS COUPLE FIGURE VOICE VOICES GANG FAMILY TEAM PILOT CAPTAIN SHERIFF DEPUTY MAID BUTLER
    CHEF COOK OWNER MANAGER SECRETARY LAWYER JUDGE CREW PASSENGER PASSENGERS LOCAL LOCALS VILLAGER
    VILLAGERS FISHERMAN FISHERMEN WORKER WORKERS REPORTER REPORTERS PARAMEDIC PARAMEDICS MOURNERS GUEST
    GUESTS DANCERS TOURISTS FANS PROTESTERS NEIGHBORS NEIGHBOURS SAILORS DEPUTIES RESIDENTS PEOPLE
    PERSON KIDS TWINS SISTERS BROTHERS PARENTS"""
)
#: Capitalised words that are not props: agencies, camera terms and sounds.
EN_CAPS_STOP = word_set(
    """FBI CIA NSA TV OK POV VO OS CONT'D USA UK NYPD LAPD DNA ID CEO INT EXT END SUPER TITLE BANG
    CRACK CRASH THUD KNOCK KNOCKS BEEP BEEPS BUZZ RING RINGING SLAM SCREAM SHOT GUNSHOT GUNSHOTS BOOM
    CLICK CLANK THUMP HONK EXPLOSION ROAR CREAK SNAP POP RUMBLE HISS SPLASH SMASH THWACK WHOOSH CLATTER
    SCREECH DING CHIME BLAST WAIL SIREN SIRENS THUNDER SHRIEK GASP NOISE SOUND MUSIC SILENCE"""
)
#: Plural-looking words that are singular (``thermos``, ``glasses``).
EN_KEEP_S = word_set(
    "thermos glasses sunglasses scissors pants jeans trousers binoculars pliers tongs news series lens "
    "canvas handcuffs cuffs goggles tweezers headphones earphones earbuds dentures shackles overalls"
)
#: ``a pair of scissors`` → scissors; ``a glass of whiskey`` → whiskey glass.
EN_QUANTITIES = word_set(
    "pair piece sheet stack pile handful bunch wad roll set bundle couple slice scrap strip coil dozens "
    "dozen lot half loop"
)
EN_CONTAINERS = word_set(
    "glass cup mug bottle can jar box bag bowl plate pack packet carton case tin flask pot bucket basket "
    "vial sack tray"
)
